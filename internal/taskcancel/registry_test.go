package taskcancel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// A cancellation whose outcome is never asked for is forgotten once older
// than endedTTL (at the next cancellation), not before.
func TestEndedForgotten(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	t0 := time.Unix(1_000_000, 0)
	r.mu.Lock()
	r.markEnded(key{"q", "old"}, t0)
	r.markEnded(key{"q", "edge"}, t0.Add(time.Second))
	r.markEnded(key{"q", "new"}, t0.Add(endedTTL+time.Second))
	r.mu.Unlock()
	if r.TakeCancelled("q", "old") {
		t.Error("a cancellation older than endedTTL is still held")
	}
	if !r.TakeCancelled("q", "edge") || !r.TakeCancelled("q", "new") {
		t.Error("a cancellation exactly endedTTL old, or newer, was forgotten")
	}
	if endedTTL != 10*time.Minute {
		t.Errorf("endedTTL = %s; want 10m as documented", endedTTL)
	}
}

// CancelID cancels every running attempt of an ID, whatever its queue, and
// marks each for TakeCancelled; other IDs are untouched.
func TestCancelIDAcrossQueues(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	a, as := attempt(t.Context())
	b, bs := attempt(t.Context())
	c, cs := attempt(t.Context())
	r.add(key{"aq", "j"}, as)
	r.add(key{"vq", "j"}, bs)
	r.add(key{"aq", "k"}, cs)
	if n := r.CancelID("j"); n != 2 {
		t.Fatalf("CancelID = %d; want 2", n)
	}
	if a.Err() == nil || b.Err() == nil || c.Err() != nil {
		t.Errorf("cancelled: aq/j %v, vq/j %v, aq/k %v; want the two j only", a.Err(), b.Err(), c.Err())
	}
	if !r.TakeCancelled("aq", "j") || !r.TakeCancelled("vq", "j") || r.TakeCancelled("aq", "k") {
		t.Error("TakeCancelled: want aq/j and vq/j only")
	}
	if n := r.CancelID("none"); n != 0 {
		t.Errorf("CancelID of an ID not running = %d", n)
	}
}

// Middleware: a processor's own error passes through; after a cancellation
// the attempt ends with the cancelled error whatever the processor
// returned, with or without a BaseContext; the task is unregistered when
// it returns.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	for _, base := range []bool{false, true} {
		r := NewRegistry()
		own := errors.New("own")
		if err := r.Middleware()(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return own })).ProcessTask(t.Context(), asynq.NewTask("x", nil)); !errors.Is(err, own) {
			t.Errorf("base %v: processor's error = %v; want it as is", base, err)
		}
		ctx := t.Context()
		if base {
			ctx = r.BaseContext(ctx)
		}
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- r.Middleware()(tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
				close(started)
				<-ctx.Done()
				return nil // the processor claims success
			})).ProcessTask(ctx, asynq.NewTask("x", nil))
		}()
		<-started
		if n := r.Running(); n != 1 {
			t.Errorf("base %v: Running = %d while the task runs", base, n)
		}
		if n := r.Cancel("", ""); n != 1 {
			t.Fatalf("base %v: Cancel = %d; want 1", base, n)
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("base %v: the cancelled task did not return", base)
		}
		if !errors.Is(err, tasks.ErrCancelled) || !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("base %v: cancelled attempt = %v; want the cancelled error (archive)", base, err)
		}
		n := r.Running()
		r.mu.Lock()
		m := len(r.running)
		r.mu.Unlock()
		if n != 0 || m != 0 {
			t.Errorf("base %v: Running = %d, %d keys after the task returned; want none (no entry left behind per task run)", base, n, m)
		}
		if base && !errors.Is(context.Cause(ctx), ErrCancelled) {
			t.Errorf("base context's cause = %v; want ErrCancelled", context.Cause(ctx))
		}
	}
}

// A malformed cancellation (not JSON, or without a queue) is ignored, and
// the listener goes on with the next message.
func TestListenIgnoresMalformed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	r := NewRegistry()
	ctx := t.Context()
	stop, err := r.Listen(ctx, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	defer stop() // stop twice is fine
	spared, sparedSlot := attempt(ctx)
	r.add(key{"", "x"}, sparedSlot)
	r.add(key{"q", ""}, sparedSlot)
	target, targetSlot := attempt(ctx)
	r.add(key{"q", "y"}, targetSlot)
	for _, m := range []string{"{", `{"queue":"","id":"x"}`, `{"queue":"q","id":""}`} {
		if err := rdb.Publish(ctx, Channel, m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := Publish(ctx, rdb, "q", "y"); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the valid cancellation after the malformed ones", func() bool { return target.Err() != nil })
	if spared.Err() != nil {
		t.Error("a malformed message cancelled a task")
	}
	if err := Publish(ctx, rdb, "q", ""); !errors.Is(err, ErrBadTask) {
		t.Errorf("Publish without an ID: %v; want ErrBadTask", err)
	}
}

// Listen fails when Redis does not answer.
func TestListenUnreachable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.UnreachableAddr(t), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if stop, err := NewRegistry().Listen(ctx, rdb, nil); err == nil {
		stop()
		t.Fatal("Listen on an unreachable Redis: no error")
	}
}

// records is a slog handler keeping the messages of its records, each
// followed by its task_id.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "task_id" {
			line += " " + a.Value.String()
		}
		return true
	})
	h.msgs = append(h.msgs, line)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// A cancellation that reaches a running task is logged (debug); one for a
// task not running here is not.
func TestListenLogsCancellations(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	r := NewRegistry()
	ctx := t.Context()
	h := &records{}
	stop, err := r.Listen(ctx, rdb, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a, as := attempt(ctx)
	b, bs := attempt(ctx)
	r.add(key{"q", "a"}, as)
	r.add(key{"q", "b"}, bs)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	// Not running here, then running: messages arrive in order.
	if err := Publish(ctx, rdb, "q", "none"); err != nil {
		t.Fatal(err)
	}
	if err := Publish(ctx, rdb, "q", "a"); err != nil {
		t.Fatal(err)
	}
	if err := insp.CancelProcessing("none"); err != nil {
		t.Fatal(err)
	}
	if err := insp.CancelProcessing("b"); err != nil {
		t.Fatal(err)
	}
	const byQueue, byID = "task cancelled on request a", "task cancelled on request (asynq) b"
	testutil.Poll(t, 30*time.Second, "both cancellations logged", func() bool {
		return a.Err() != nil && b.Err() != nil && h.count(byQueue) >= 1 && h.count(byID) >= 1
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) != 2 {
		t.Errorf("lines %q; want one per task cancelled here, none for the tasks not running here", h.msgs)
	}
}
