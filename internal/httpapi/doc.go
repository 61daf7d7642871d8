// Package httpapi implements the HTTP enqueue API served by "enqueue
// serve": any language can enqueue, inspect and cancel tuskq tasks with
// nothing but an HTTP client. docs/api.md is the user's guide and
// openapi.yaml (served at GET /v1/openapi.yaml) the OpenAPI 3.1
// description; a test keeps the latter equal to Routes.
//
//	POST   /v1/tasks                        enqueue one task          201
//	POST   /v1/tasks/batch                  enqueue up to api.max_batch  200, a result per task
//	GET    /v1/queues/{queue}/tasks/{id}    state, retries, last error, result
//	DELETE /v1/queues/{queue}/tasks/{id}    delete, or cancel a running task
//	GET    /v1/openapi.yaml                 the OpenAPI description (no token needed)
//	GET    /healthz, /readyz                liveness; readiness (Redis answers PING)
//
// # Requests
//
// A task is a JSON object with the fields of an "enqueue --batch" line
// (TaskFields): type, payload (any JSON value) or payload_base64, queue,
// delay or at, max_retry, timeout, deadline, unique, unique_key, id, retention,
// headers and traceparent, decoded and checked by internal/taskspec as
// the CLI's lines and flags are. Decoding is strict: malformed JSON,
// unknown or duplicate fields, values of the wrong type, strings that are
// not UTF-8, malformed or out-of-bounds durations, times or base64 and an
// unknown queue are one 400 problem listing every invalid field. Bodies must
// be Content-Type: application/json (415 otherwise, which also keeps web
// pages from posting forms to a local API) and at most api.max_body_bytes
// (413).
//
// # Queues
//
// A task may go to a queue of worker.queues, to a queue named by a route,
// or to a queue served by a worker running now (read from the workers'
// heartbeats in Redis, at most once a second, only for a name outside the
// configuration). Any other queue is a 400 problem: a task there would wait
// for a worker that never comes. A task without a queue goes to its
// route's queue, else "default".
//
// # Errors
//
// Every error is application/problem+json (RFC 9457) with type, title,
// status and detail, plus "errors", a list of {field, detail} naming each
// field at fault. A Redis that cannot be reached is 503 with Retry-After.
//
// # Authentication
//
// With api.tokens set, every route but the OpenAPI description and the
// health endpoints needs "Authorization: Bearer TOKEN": none or a wrong
// one is 401 with WWW-Authenticate; a token limited to some queues or task
// types gets 403, naming the scope, when it enqueues outside it, and 404,
// exactly as for a missing task, when it reads or deletes a task outside
// it. Tokens are compared in constant time through their SHA-256 digests.
// A client address that sends too many wrong tokens gets 429 for a while
// (Options.FailedTokenBurst and FailedTokenRefill); failures are logged at
// warn and counted in GET /metrics. Without tokens
// the API accepts every request, listens only on loopback (Run refuses
// anything else with ErrInsecureListen) and answers only requests whose
// Host is loopback (DNS rebinding).
//
// # Idempotency
//
// A POST with an Idempotency-Key header (1 to 255 printable ASCII
// characters) is done at most once per key and token within
// api.idempotency_ttl: a repeat gets the original answer with
// "Idempotent-Replayed: true" and stores nothing. The key is claimed in
// Redis with SET NX before the enqueue, so concurrent duplicates wait for
// the first one's answer instead of racing it; tasks created under a key
// get IDs derived from it, so even a retry after the server died between
// storing the task and storing the answer finds the task instead of
// creating another. Reusing a key for a different body is 422.
//
// # Tracing
//
// A valid traceparent (and tracestate) header continues the caller's trace
// into every task of the request; a task's own "traceparent" field wins
// over the header. Without either each task starts a new trace. The
// answer's trace_id says which.
//
// # Logs
//
// One JSON line per request: method, path, status, duration_ms, bytes,
// remote, the token's name (never the token), and the trace.
package httpapi
