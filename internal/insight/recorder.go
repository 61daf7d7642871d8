package insight

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// Limits of a worker's aggregates.
const (
	maxErrorTexts = 8 // distinct error texts kept per series
	maxRecent     = 4 // recent failures kept per series
	maxRetired    = 4 // older plugin versions kept per task type and queue
)

// Recorder is a worker's in-memory aggregate of its attempts per task
// type, queue and plugin version, published by a Publisher every few
// seconds. Recording a successful attempt is a few atomic additions; a
// failed one also takes a per-series lock to keep its error text and
// IDs. It is safe for concurrent use.
type Recorder struct {
	worker  string
	started time.Time
	now     func() time.Time
	version func(taskType string) string
	queues  []string
	sinks   sync.Map // [2]string{type, queue} → *Sink
}

// RecorderOptions configures NewRecorder.
type RecorderOptions struct {
	// Worker identifies the worker process in the snapshots.
	Worker string
	// Queues are the queues the worker consumes.
	Queues []string
	// Version returns the plugin version serving a task type, empty for
	// compiled-in processors. It is called when a snapshot is taken, not
	// per attempt. Nil means no versions.
	Version func(taskType string) string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// NewRecorder returns an empty Recorder.
func NewRecorder(opts RecorderOptions) *Recorder {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == nil {
		opts.Version = func(string) string { return "" }
	}
	return &Recorder{worker: opts.Worker, started: opts.Now(), now: opts.Now, version: opts.Version,
		queues: append([]string(nil), opts.Queues...)}
}

// Worker returns the worker's identifier.
func (r *Recorder) Worker() string { return r.worker }

// Sink returns the aggregate of one task type on one queue. Callers
// cache it: Finish on the returned Sink costs no lookup.
func (r *Recorder) Sink(taskType, queue string) *Sink {
	k := [2]string{taskType, queue}
	if s, ok := r.sinks.Load(k); ok {
		return s.(*Sink)
	}
	s := &Sink{typ: taskType, queue: queue, now: r.now}
	s.cur.Store(&counters{version: r.version(taskType)})
	actual, _ := r.sinks.LoadOrStore(k, s)
	return actual.(*Sink)
}

// Observer returns r as the observer of a worker's tasks.Metrics.
func (r *Recorder) Observer() tasks.AttemptObserver { return observer{r} }

type observer struct{ r *Recorder }

func (o observer) Sink(taskType, queue string) tasks.AttemptSink { return o.r.Sink(taskType, queue) }

// Sink aggregates one task type on one queue.
type Sink struct {
	typ, queue string
	now        func() time.Time
	cur        atomic.Pointer[counters]
	mu         sync.Mutex // guards retired
	retired    []*counters
}

// counters are the cumulative counts of one plugin version.
type counters struct {
	version                     string
	attempts, failures, retries atomic.Uint64
	buckets                     [NumBuckets]atomic.Uint64
	mu                          sync.Mutex // guards errors and recent
	errors                      []ErrorCount
	recent                      []Example
}

// Finish records a finished attempt with the outcome the tasks package
// gave it: success, cancelled and skipped count as attempts; retry,
// archived and revoked as failed attempts; requeued and deferred not at
// all (the attempt runs again).
func (s *Sink) Finish(ctx context.Context, elapsed time.Duration, outcome string, err error) {
	switch outcome {
	case tasks.OutcomeSuccess, tasks.OutcomeCancelled, tasks.OutcomeSkipped:
		s.Observe(elapsed, false, false, Example{})
	case tasks.OutcomeRetry, tasks.OutcomeArchived, tasks.OutcomeRevoked:
		x := Example{}
		x.TaskID, _ = asynq.GetTaskID(ctx)
		if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
			x.TraceID = sc.TraceID().String()
		}
		if err != nil {
			x.Error = err.Error()
		}
		s.Observe(elapsed, true, outcome == tasks.OutcomeRetry, x)
	}
}

// Observe records one attempt: its duration, whether it failed and will
// be retried, and for a failure its task and trace IDs and raw error text
// (x.At and the normalization are done here).
func (s *Sink) Observe(elapsed time.Duration, failed, retry bool, x Example) {
	c := s.cur.Load()
	c.attempts.Add(1)
	c.buckets[BucketOf(elapsed)].Add(1)
	if !failed {
		return
	}
	c.failures.Add(1)
	if retry {
		c.retries.Add(1)
	}
	x.Error = NormalizeError(x.Error)
	x.At = s.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent = append(c.recent, x)
	if len(c.recent) > maxRecent {
		c.recent = c.recent[len(c.recent)-maxRecent:]
	}
	for i := range c.errors {
		if c.errors[i].Text == x.Error {
			c.errors[i].Count++
			return
		}
	}
	if len(c.errors) < maxErrorTexts {
		c.errors = append(c.errors, ErrorCount{Text: x.Error, Count: 1})
		return
	}
	// Full: the rarest text makes room (its count restarts under the new
	// text; the monitor sees a new text and counts it from there).
	low := 0
	for i := range c.errors {
		if c.errors[i].Count < c.errors[low].Count {
			low = i
		}
	}
	c.errors[low] = ErrorCount{Text: x.Error, Count: 1}
}

// Snapshot returns the worker's cumulative aggregates now. A task type
// whose plugin version changed since the last snapshot starts counting
// under the new version; the old version's counts stay in the snapshots.
func (r *Recorder) Snapshot() WorkerSnapshot {
	ws := WorkerSnapshot{Worker: r.worker, Started: r.started, At: r.now(), Queues: r.queues}
	r.sinks.Range(func(_, v any) bool {
		s := v.(*Sink)
		cur := s.cur.Load()
		if v := r.version(s.typ); v != cur.version {
			s.mu.Lock()
			s.retired = append(s.retired, cur)
			if len(s.retired) > maxRetired {
				s.retired = s.retired[1:]
			}
			s.mu.Unlock()
			s.cur.Store(&counters{version: v})
		}
		s.mu.Lock()
		all := append(append([]*counters(nil), s.retired...), s.cur.Load())
		s.mu.Unlock()
		for _, c := range all {
			if ss, ok := c.snapshot(s.typ, s.queue); ok {
				ws.Series = append(ws.Series, ss)
			}
		}
		return true
	})
	return ws
}

// snapshot copies c, false when it counted nothing.
func (c *counters) snapshot(typ, queue string) (SeriesSnapshot, bool) {
	// Failures before attempts: Observe adds to attempts first, so a
	// snapshot never counts more failures than attempts.
	retries := c.retries.Load()
	failures := c.failures.Load()
	ss := SeriesSnapshot{Type: typ, Queue: queue, Version: c.version,
		Attempts: c.attempts.Load(), Failures: failures, Retries: retries}
	if ss.Attempts == 0 {
		return ss, false
	}
	var b [NumBuckets]uint64
	lo, hi := NumBuckets, -1
	for i := range b {
		b[i] = c.buckets[i].Load()
		if b[i] > 0 {
			lo, hi = min(lo, i), i
		}
	}
	if hi >= 0 {
		ss.BucketLo = lo
		ss.Buckets = append([]uint64(nil), b[lo:hi+1]...)
	}
	c.mu.Lock()
	ss.Errors = append([]ErrorCount(nil), c.errors...)
	ss.Recent = append([]Example(nil), c.recent...)
	c.mu.Unlock()
	return ss, true
}
