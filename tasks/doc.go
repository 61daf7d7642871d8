// Package tasks is the public Go API of tuskq: a Client for producers that
// enqueue tasks with routing defaults and trace context, the Processor
// interface and Registry that workers dispatch through, and the middleware
// every tuskq worker runs (panic recovery, trace extraction, one log line and
// metrics per finished task).
//
// A task is an asynq task: a type such as "email:send", a payload of opaque
// bytes (JSON by convention) and headers. The trace context travels in the
// headers as W3C traceparent, so every task has a trace ID that appears on
// every log line written about it, by the producer and by the worker.
//
// Client.EnqueueMany stores many tasks per round trip: asynq v0.26.0 has no
// batch enqueue, so it writes asynq's task records with a script that does
// what asynq's enqueue scripts do, tied to asynq v0.26.0's Redis layout
// (internal/asynqrdb). Instrument is the worker's middleware in one frame; Context, Log, Metrics.Middleware and
// Recover are its parts, usable alone.
package tasks
