package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// Request is one task of a bulk enqueue.
type Request struct {
	// Type is the task type.
	Type string
	// Payload is the task payload.
	Payload []byte
	// Options are the task's options; the zero value uses the route.
	Options EnqueueOptions
}

// Result is the outcome of one Request of a bulk enqueue: Info on success,
// Err otherwise.
type Result struct {
	Info *TaskInfo
	Err  error
}

// DefaultParallelism is the bulk enqueue parallelism used when none is
// given: at most this many pipelines (of BulkBatchSize tasks) in flight.
const DefaultParallelism = 32

// BulkBatchSize is the most tasks EnqueueMany sends in one pipeline, one
// round trip to Redis.
const BulkBatchSize = 64

// EnqueueMany enqueues every request and returns one Result per request, in
// request order. Each task is stored exactly as Enqueue would store it (same
// routing, options, trace headers, generated task IDs, TaskInfo and errors:
// asynq.ErrDuplicateTask, asynq.ErrTaskIDConflict and ErrEnqueueTimeout per
// task), but many tasks share a round trip: the requests are grouped by
// queue into pipelines of up to BulkBatchSize tasks, with at most
// parallelism pipelines in flight (DefaultParallelism when parallelism < 1).
// Each pipeline gets its own deadline (ClientOptions.EnqueueTimeout) when it
// is sent, and each of its tasks its own nonce, as Enqueue does; a
// pipeline's tasks are stored by one run of the enqueue script.
//
// asynq v0.26.0 has no batch enqueue; this path, like Enqueue, writes
// asynq's task records itself with tuskq's enqueue script (what asynq's
// enqueue scripts do, with a deadline and a re-send check), and is tied to
// asynq's Redis layout (see internal/asynqrdb). In Redis Cluster every
// pipeline holds the keys of one queue, which share a hash slot.
//
// A failed request does not stop the others. When ctx is cancelled the
// requests not yet sent fail with ctx's error. A pipeline whose reply was
// lost is sent again with the same nonces, which cannot store a task twice,
// and one that fails otherwise is sent again one task at a time, so a
// result says what happened to its task: stored, refused (duplicate, ID
// conflict, a Redis error), or ErrEnqueueTimeout (not stored).
func (c *Client) EnqueueMany(ctx context.Context, reqs []Request, parallelism int) []Result {
	results := make([]Result, len(reqs))
	if len(reqs) == 0 {
		return results
	}
	if parallelism < 1 {
		parallelism = DefaultParallelism
	}
	batches := c.batches(reqs)
	parallelism = min(parallelism, len(batches))
	var (
		wg   sync.WaitGroup
		next = make(chan []int)
	)
	for range parallelism {
		wg.Go(func() {
			var rnd randBuffer
			for idx := range next {
				c.sendBatch(ctx, reqs, idx, results, &rnd)
			}
		})
	}
	for _, idx := range batches {
		if err := ctx.Err(); err != nil {
			for _, i := range idx {
				results[i] = Result{Err: err}
			}
			continue
		}
		next <- idx
	}
	close(next)
	wg.Wait()
	return results
}

// batches groups the request indexes by queue, in request order within a
// queue, into runs of at most BulkBatchSize.
func (c *Client) batches(reqs []Request) [][]int {
	var (
		order   []string
		byQueue = make(map[string][]int)
	)
	for i := range reqs {
		q := reqs[i].Options.Queue
		if q == "" {
			q = c.routes.lookup(reqs[i].Type).Queue
		}
		if _, ok := byQueue[q]; !ok {
			order = append(order, q)
		}
		byQueue[q] = append(byQueue[q], i)
	}
	var out [][]int
	for _, q := range order {
		idx := byQueue[q]
		for len(idx) > 0 {
			n := min(len(idx), BulkBatchSize)
			out = append(out, idx[:n:n])
			idx = idx[n:]
		}
	}
	return out
}

// wire returns r as asynq v0.26.0's client would write it at time now
// (asynqrdb.Prepare): the keys and arguments of the enqueue script that
// stores it, and the TaskInfo asynq would return. A task without an ID
// gets a random UUID; every call gets a new nonce. fill is the random
// source.
func (r *request) wire(now time.Time, fill randFunc) wireTask {
	id := r.taskID
	if id == "" {
		id = newUUID(fill)
	}
	processAt := r.processAt
	if processAt.IsZero() && r.processIn > 0 {
		processAt = now.Add(r.processIn)
	}
	t := asynqrdb.Task{
		Type:      r.typ,
		Payload:   r.payload,
		Headers:   r.headers,
		ID:        id,
		Queue:     r.queue,
		MaxRetry:  r.maxRetry,
		Timeout:   r.timeout,
		Deadline:  r.deadline,
		Retention: r.retention,
		UniqueTTL: r.uniqueTTL,
		UniqueKey: r.uniqueKey,
		ProcessAt: processAt,

		UniqueUntilEnd: r.untilEnd,
	}
	return wireTask{Enqueue: asynqrdb.Prepare(now, &t, asynqrdb.NewNonce(fill)), trace: r.traceID, uniqueKey: r.uniqueKey, id: id, span: r.span}
}

// randBuffer hands out random bytes read from crypto/rand in blocks, so
// that a batch reads the random source a few times rather than three times
// per task (task ID, nonce and trace IDs). It belongs to one goroutine.
type randBuffer struct {
	buf []byte
}

// randBlock is how many random bytes a randBuffer reads at a time.
const randBlock = 4096

// fill fills b with random bytes.
func (r *randBuffer) fill(b []byte) {
	for len(b) > 0 {
		if len(r.buf) == 0 {
			r.buf = make([]byte, randBlock)
			_, _ = rand.Read(r.buf)
		}
		n := copy(b, r.buf)
		r.buf = r.buf[n:]
		b = b[n:]
	}
}

// newUUID returns a random (version 4) UUID in its usual text form, as
// asynq makes task IDs (with github.com/google/uuid), drawn from fill.
func newUUID(fill randFunc) string {
	var u [16]byte
	fill(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
