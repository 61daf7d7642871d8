package events

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Progress is what a processor last reported of a task's progress.
type Progress struct {
	// Percent is from 0 to 100.
	Percent float64 `json:"percent"`
	// Message is the processor's text ("" for none).
	Message string `json:"message,omitempty"`
	// Attempt is the attempt that reported it, from 1.
	Attempt int `json:"attempt"`
	// UpdatedAt is when it was reported.
	UpdatedAt time.Time `json:"updated_at"`
}

// ProgressKey is the key of a task's progress (a hash), in the hash slot
// of the task's queue.
func ProgressKey(queue, id string) string { return "tuskq:{" + queue + "}:progress:" + id }

// ProgressTTL is how long a task's progress is kept after its last report.
const ProgressTTL = 24 * time.Hour

// DefaultProgressInterval is the least time between two writes of one
// attempt's progress.
const DefaultProgressInterval = 250 * time.Millisecond

// MaxProgressMessage bounds a progress message, in bytes; longer ones are
// cut.
const MaxProgressMessage = 1024

// ReadProgress returns the progress last written for the task, or nil
// when none was (or it expired).
func ReadProgress(ctx context.Context, rdb redis.UniversalClient, queue, id string) (*Progress, error) {
	m, err := rdb.HGetAll(ctx, ProgressKey(queue, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("events: read the progress of task %s: %w", id, err)
	}
	return ParseProgress(m), nil
}

// ParseProgress decodes the hash at ProgressKey (HGETALL's answer); nil
// for an empty one (nothing reported, or expired).
func ParseProgress(m map[string]string) *Progress {
	if len(m) == 0 {
		return nil
	}
	p := &Progress{Message: m["message"]}
	p.Percent, _ = strconv.ParseFloat(m["percent"], 64)
	p.Attempt, _ = strconv.Atoi(m["attempt"])
	if ms, err := strconv.ParseInt(m["updated"], 10, 64); err == nil {
		p.UpdatedAt = time.UnixMilli(ms).UTC()
	}
	return p
}

// Tracker throttles one attempt's progress reports: it writes at most one
// every interval (the last report wins), and Finish writes the last one
// not yet written. Each write stores the progress (ProgressKey) and
// publishes a KindProgress event. Report never blocks on Redis.
type Tracker struct {
	rdb      redis.UniversalClient
	pub      *Publisher
	base     Event // the task's fields for the events
	interval time.Duration

	mu       sync.Mutex
	pending  *Progress
	last     time.Time   // when the last write began
	timer    *time.Timer // armed while a report waits for its turn
	finished bool
	writes   sync.WaitGroup
}

// NewTracker returns the tracker of one attempt of the task described by
// base (Queue, TaskID, TaskType, TraceID, Attempt, ...); pub (may be nil)
// publishes the progress events. interval 0 means
// DefaultProgressInterval.
func NewTracker(rdb redis.UniversalClient, pub *Publisher, base Event, interval time.Duration) *Tracker {
	if interval <= 0 {
		interval = DefaultProgressInterval
	}
	return &Tracker{rdb: rdb, pub: pub, base: base, interval: interval}
}

// Report records pct (clamped to 0..100; NaN is ignored) and message as
// the attempt's progress. It is written at once when the last write is
// older than the interval, and otherwise when the interval has passed (or
// at Finish), unless a later report replaces it.
func (t *Tracker) Report(pct float64, message string) {
	if math.IsNaN(pct) {
		return
	}
	pct = min(max(pct, 0), 100)
	if len(message) > MaxProgressMessage {
		message = message[:MaxProgressMessage]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	t.pending = &Progress{Percent: pct, Message: message, Attempt: t.base.Attempt, UpdatedAt: time.Now()}
	if t.timer != nil {
		return // the armed write takes the latest value
	}
	wait := t.interval - time.Since(t.last)
	t.writes.Add(1)
	t.timer = time.AfterFunc(max(wait, 0), t.fire)
}

// fire writes the pending report when its turn comes.
func (t *Tracker) fire() {
	defer t.writes.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timer = nil
	if t.finished || t.pending == nil {
		return
	}
	t.flushLocked()
}

// flushLocked writes the pending report; t.mu is held, so writes are in
// order.
func (t *Tracker) flushLocked() {
	p := t.pending
	t.pending = nil
	t.last = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	key := ProgressKey(t.base.Queue, t.base.TaskID)
	pipe := t.rdb.Pipeline()
	pipe.HSet(ctx, key, "percent", strconv.FormatFloat(p.Percent, 'f', -1, 64), "message", p.Message,
		"attempt", t.base.Attempt, "updated", p.UpdatedAt.UnixMilli())
	pipe.PExpire(ctx, key, ProgressTTL)
	_, _ = pipe.Exec(ctx) // best effort: progress is advice
	ev := t.base
	ev.Kind, ev.Time, ev.Percent, ev.Message = KindProgress, p.UpdatedAt, p.Percent, p.Message
	_ = t.pub.PublishAsync(ctx, ev)
}

// Finish writes the report not yet written, if any, and stops the
// tracker: later reports are ignored. It returns once the writes are done.
func (t *Tracker) Finish() {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.finished = true
	if t.timer != nil && t.timer.Stop() {
		t.writes.Done()
	}
	t.timer = nil
	if t.pending != nil {
		t.flushLocked()
	}
	t.mu.Unlock()
	t.writes.Wait()
}
