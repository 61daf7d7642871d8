// Package processors holds the task processors built into the tuskq worker:
// demo:sleep, demo:echo and demo:fail for demos and tests, and http:request,
// a webhook caller. RegisterBuiltins adds them all to a tasks.Registry.
//
// Payloads are JSON objects decoded strictly: an unknown field, a value of
// the wrong type, trailing data or an invalid value fails the task with an
// error that names the field and wraps ErrBadPayload and asynq.SkipRetry, so
// bad input is archived at once and never retried. Payloads are never
// logged.
//
// # demo:sleep
//
//	{"ms": 250}            sleep 250 milliseconds
//	{"duration": "1.5s"}   sleep for a Go duration
//
// Exactly one of the two fields. When the task's context ends first (task
// timeout, worker shutdown) the task fails with an error wrapping ctx.Err(),
// so asynq retries it or hands it back to Redis.
//
// # demo:echo
//
// Any payload, JSON or not. It is written back unchanged as the task's
// result, which `enqueue --wait` prints.
//
// # demo:fail
//
//	{"times": 2}          fail attempts 1 and 2, succeed on attempt 3
//	{"times": -1}         fail every attempt (until archived)
//	{"skip_retry": true}  fail once, without retry (archived at once)
//
// A planned failure reads "demo:fail: planned failure 1 of 2" (attempt 1 of
// 2 planned failures) and wraps ErrPlannedFailure. The attempt number comes
// from the task's retry count, so a task needs a MaxRetry of at least times
// to succeed.
//
// # http:request
//
//	{
//	  "method":  "POST",                              optional, default POST
//	  "url":     "https://hooks.example.com/orders",  required, http or https
//	  "headers": {"Authorization": "Bearer …"},       optional
//	  "body":    {"order": 42},                       optional, any JSON value
//	  "body_base64": "AAEC",                          optional, raw bytes
//	  "timeout": "10s"                                optional, default 30s
//	}
//
// Fields:
//
//   - method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS, in any case.
//     The default is POST, with or without a body: the processor is a
//     webhook caller, and one rule is easier to remember than two. Set
//     "GET" explicitly to fetch.
//   - url: an absolute http or https URL of at most 8 KiB, without user
//     info (send credentials in a header). Its host must be allowed by
//     worker.http_allow_hosts (below).
//   - headers: header names and values, one value each. Names are
//     case-insensitive and must be unique that way. Host, Content-Length,
//     Transfer-Encoding, Connection, Keep-Alive, Proxy-Connection, TE,
//     Trailer, Upgrade, traceparent and tracestate are set by the worker and
//     rejected here.
//   - body: a JSON string is sent as its text with Content-Type
//     "text/plain; charset=utf-8"; any other JSON value (object, array,
//     number, boolean) is sent as compact JSON with Content-Type
//     "application/json". null or absent means no body.
//   - body_base64: raw bytes in standard base64, sent with Content-Type
//     "application/octet-stream". At most one of body and body_base64.
//     A Content-Type in headers overrides the default of either.
//   - timeout: a Go duration greater than 0 bounding the whole request
//     (connect, send, response, body); the default is 30s. The task's own
//     deadline (its asynq Timeout or Deadline) still applies when it is
//     sooner.
//
// Every request also carries:
//
//   - User-Agent: tuskq/<version> (a User-Agent in headers replaces it);
//   - Idempotency-Key: the task ID, the same on every retry, so a receiver
//     can drop a repeated delivery (an Idempotency-Key in headers replaces
//     it);
//   - traceparent and tracestate, copied unchanged from the task's headers,
//     so the receiver continues the producer's trace; with tracing on
//     (Options.TracerProvider) the request is a CLIENT span under the
//     attempt's span and traceparent carries that span instead, in the
//     same trace.
//
// The response decides the outcome:
//
//   - 2xx: success. The task result is the JSON object
//     {"status": 200, "body": "<first 64 KiB of the body>"}, plus
//     "truncated": true when the body was longer. The body is text; bytes
//     that are not UTF-8 become U+FFFD.
//   - 408, 429 and 5xx: the attempt fails with a *StatusError and is retried
//     with asynq's backoff. The error text shows the status, a parsed
//     Retry-After and the first 200 bytes of the body; RetryAfter(err)
//     returns the delay for a worker's RetryDelayFunc.
//   - any other status (other 4xx; 3xx that was not followed): a
//     *StatusError wrapping asynq.SkipRetry, archived without retry.
//   - network errors and the payload's timeout: retried.
//   - the end of the task's context (deadline, shutdown): the error wraps
//     ctx.Err().
//
// Error texts name the method and host but never the full URL, whose query
// may hold a secret.
//
// # The allow-list
//
// http:request calls only hosts listed in worker.http_allow_hosts
// (Options.HTTPAllowHosts), so anyone who can enqueue cannot make workers
// reach internal addresses. The list is empty by default, which refuses
// every request with the error
//
//	http:request: host "x" is not in worker.http_allow_hosts; add it to the config to allow it
//
// wrapping ErrHostNotAllowed and asynq.SkipRetry. An entry "host" allows
// ports 80 and 443 of that host only; "host:port" (IPv6: "[::1]:8080") only
// that port, where a URL without a port means 80 for http and 443 for
// https; a range in CIDR notation ("10.0.0.0/8", "fd00::/8") allows the
// addresses it holds, on 80 and 443 when they appear in URLs. Matching is on
// the URL's host, case-insensitive, ignoring a trailing dot; IP addresses
// are compared in canonical form. Every redirect target is checked the same
// way before it is followed (at most 10 redirects, http and https only), so
// an allowed host cannot redirect a worker elsewhere, nor to another of its
// own ports (its Redis, say).
//
// The list matches host names, and a name resolves when the connection is
// dialled: whoever controls its DNS decides where it points (DNS
// rebinding). So, as Stripe's Smokescreen does, the default HTTP client
// checks the address actually dialled, after resolution (in the dialer's
// Control function, which no later resolution can bypass), and refuses
// loopback, unspecified, link-local, multicast, private (10/8, 172.16/12,
// 192.168/16), shared CGNAT (100.64.0.0/10), unique local IPv6 (fc00::/7)
// and known cloud metadata addresses (169.254.169.254, fd00:ec2::254,
// 100.100.100.200, 168.63.129.16, 192.0.0.192, 169.254.170.2), whatever
// name led there, unless the list names that address, or a range holding
// it, literally. An internal webhook on a private network is allowed by
// listing its name with its port and its address or range:
// ["hooks.internal:8080", "10.20.0.0/16"]. The default client uses no
// proxy. A client passed in Options.HTTPClient keeps its own transport (so
// the dial check is its business) but gets the redirect check.
package processors
