// Package events is tuskq's live event log: what happens to tasks
// (enqueued, started, progress, succeeded, failed, retrying, archived,
// cancelled, ...) and workflows (a step released, a workflow finished),
// published to Redis Streams and read back by GET /v1/events and
// "enqueue watch". It also keeps the progress processors report
// (tasks.Progress).
//
// # Keys
//
// Events go to one stream per queue, tuskq:{<queue>}:events (StreamKey),
// trimmed with XADD MAXLEN ~ (Options.MaxLen). Per-queue streams rather
// than one stream, because:
//
//   - the stream shares its hash tag with the queue's asynq keys
//     ("asynq:{<queue>}:…"), so the enqueue script writes a task and its
//     "enqueued" event in one atomic step, in Redis Cluster too. That is
//     what keeps every task's events in order: a worker cannot publish
//     "started" before the "enqueued" of the same task is in the stream;
//   - in Redis Cluster the event writes spread over the nodes with the
//     queues, instead of making one node the hot spot of every worker;
//   - a reader filtering by queue reads only that queue's stream.
//
// The price is on the reading side: a reader of several queues reads
// several streams (one XREAD BLOCK for all of them outside Cluster, a
// pipelined poll in Cluster), and its position is one stream ID per queue
// (Cursor). A task's events are all in its queue's stream, so they are
// read in the order they were written. Workflow events go to the stream
// of the queue they name (Event.Queue; "default" when empty).
//
// # Cost when nobody listens
//
// In the default mode (ModeAuto) publishers write events only while a
// listener is registered: readers keep the key tuskq:events:listeners
// alive (PresenceKey, a TTL refreshed while they read), and publishers
// look at it at most once per Options.CheckInterval (a second), on the
// call that finds the last look stale. With no listener an event costs
// one atomic load. ModeAlways writes every event (an audit trail); ModeOff
// none. A listener is seen by the publishers within CheckInterval of its
// start: events of that first second may be missing.
//
// Writes are batched: the events of all tasks of a process that finish
// while a write is in flight go in the next pipeline. The worker waits
// for the write of a task's final event before it reports the outcome to
// asynq, so the next attempt's "started" (maybe on another worker) cannot
// overtake it.
package events
