// Package enqueuecli implements the enqueue command: it puts one task, or a
// stream of tasks read as JSON lines, into the tuskq queues, and can wait
// for a task to finish. cmd/enqueue only wires the process to Run, so tests
// run the whole command in-process.
//
// # Single task
//
//	enqueue [flags] TYPE [PAYLOAD | @FILE | -]
//
// The payload is bytes: the argument itself, the contents of FILE, or
// standard input for "-"; without one the payload is empty. By convention
// payloads are JSON, but a single enqueue does not require it. To send a
// literal payload that starts with '@' or is "-", use "-" and standard input;
// put "--" before a payload that starts with '-'.
//
// One JSON line is printed on standard output:
//
//	{"id":"…","type":"email:send","queue":"default","state":"pending","trace_id":"…","process_at":"2026-01-02T15:04:05Z"}
//
// state is "pending" or "scheduled" (with --delay or --at); process_at is
// when the task becomes due, in UTC.
//
// The first argument "config" runs the shared configuration command
// (enqueue config print | enqueue config validate FILE); to enqueue a task
// whose type is literally "config", write "enqueue -- config".
//
// The first argument "serve" runs the HTTP enqueue API (see Serve and
// internal/httpapi); "enqueue -- serve" enqueues a task of type "serve".
// The first argument "cancel" cancels a running task by queue and ID (see
// Cancel); "enqueue -- cancel" enqueues a task of type "cancel".
//
// # Batch
//
// With --batch, standard input is read as JSON lines, one task per line:
//
//	{"type":"email:send","payload":{"to":"a@example.com"},"queue":"critical","delay":"30s"}
//
// Fields: type (required), payload (any JSON value, stored as its compact
// JSON encoding) or payload_base64 (standard base64, for binary payloads),
// and the options under the names of the flags: queue, delay, at,
// max_retry, timeout, deadline, unique, unique_key, id, retention, headers (an object
// of strings) and traceparent. Lines, flags and the TYPE argument go
// through the decoder and checks of internal/taskspec, as the HTTP API's
// bodies, the config's routes and tasks.Client's options do, so a task
// gets the same verdict in the same words at every door. Decoding is
// strict: an unknown field, a duplicate field, a value of the wrong type, a
// string that is not UTF-8, a malformed or out-of-bounds duration or time
// (taskspec documents the bounds), a missing or invalid type and a queue
// that is not known (worker.queues, route queues and queues of running
// workers, as the HTTP API knows them) are each reported as
// "line N: <reason>" on standard error, and that line is skipped; empty lines are ignored. Option
// flags given with --batch are defaults for every line; a line's own value
// wins (a line that sets delay or at ignores both --delay and --at; a
// zero value such as "delay":"0s" counts as not set).
//
// Good lines are enqueued through tasks.Client.EnqueueMany in chunks of up
// to ChunkSize lines, with at most --parallelism (default 32) enqueues in
// flight, while the rest of the input is still being read: an input of any
// length runs in constant memory, and a line from a slow pipe is enqueued
// as soon as it arrives. A bad line does not stop the good ones. If Redis
// becomes unreachable the batch stops after the chunk that found out, with
// one line naming the address. Each enqueued task prints one JSON line on
// standard output, the single-task shape plus "line":N. A line refused by
// Redis (a duplicate, or an error) is reported as "line N: not enqueued:
// <reason>". A summary on standard error says exactly what was and was not
// enqueued, listing line numbers (runs as ranges) by kind, for example
//
//	enqueued 997 of 1000 tasks; 3 not enqueued (bad input: lines 3, 17; duplicate: line 20)
//
// Progress is shown on standard error only when it is a terminal.
//
// # Waiting
//
// --wait[=TIMEOUT] (30s when given without a value; write --wait=2m, not
// --wait 2m) waits for the task to be completed or archived and prints one
// JSON line with its final state and its result ("result" when it is
// valid JSON, else "result_base64", as the HTTP API shows it) or its last
// error. Because asynq forgets a
// completed task at once unless it has a retention, --wait sets --retention
// to 1h when none is given.
//
// # Exit codes
//
//	0  every task was enqueued (and, with --wait, completed)
//	1  something could not be done: Redis unreachable (one line naming the
//	   address), a duplicate task (--unique) or task ID, an enqueue that
//	   failed, a task that was archived or did not finish within --wait
//	2  bad input or usage: unknown flag, bad flag value, invalid config,
//	   unreadable payload file, or (with --batch) any bad line
//
// An unreadable config file is 1, as in the config subcommand.
//
// In a batch with both bad lines and failed enqueues, 1 wins over 2: valid
// tasks that could not be stored are the more serious problem, and the
// summary lists both kinds by line.
package enqueuecli
