package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

// limit bounds every wait of the tests.
const limit = 30 * time.Second

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func newPublisher(t *testing.T, rdb redis.UniversalClient, opts events.Options) *events.Publisher {
	t.Helper()
	p, err := events.NewPublisher(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// readN reads until n events came, failing after limit.
func readN(t *testing.T, r *events.Reader, n int) []events.Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	var out []events.Item
	for len(out) < n {
		items, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, items...)
	}
	return out
}

func TestPublishOnlyWhileListened(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	p := newPublisher(t, rdb, events.Options{CheckInterval: time.Hour})
	// Nobody listens: nothing is written, and the look for a listener is
	// made once for the whole interval.
	for i := range 100 {
		if err := p.Publish(ctx, events.Event{Kind: events.KindStarted, Queue: "q", TaskID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.XLen(ctx, events.StreamKey("q")).Val(); n != 0 {
		t.Fatalf("%d events written with no listener", n)
	}
	if n := redistest.CommandCalls(t, rdb, "exists"); n != 1 {
		t.Errorf("%d EXISTS for 100 events, want 1 per check interval", n)
	}

	// A listener registered before the publisher's first look is seen.
	r, err := events.NewReader(ctx, rdb, events.ReaderOptions{Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rdb.SAdd(ctx, "asynq:queues", "q")
	p2 := newPublisher(t, rdb, events.Options{})
	if err := p2.Publish(ctx, events.Event{Kind: events.KindStarted, Queue: "q", TaskID: "seen"}); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, r, 1); got[0].TaskID != "seen" || got[0].Queue != "q" || got[0].Time.IsZero() {
		t.Errorf("read %+v", got[0])
	}

	// ModeOff writes nothing even with a listener; ModeAlways writes
	// without one.
	off := newPublisher(t, rdb, events.Options{Mode: events.ModeOff})
	_ = off.Publish(ctx, events.Event{Kind: events.KindStarted, Queue: "off"})
	always := newPublisher(t, rdb, events.Options{Mode: events.ModeAlways})
	_ = always.Publish(ctx, events.Event{Kind: events.KindStarted, Queue: "always"})
	if n := rdb.XLen(ctx, events.StreamKey("off")).Val(); n != 0 {
		t.Errorf("ModeOff wrote %d events", n)
	}
	if n := rdb.XLen(ctx, events.StreamKey("always")).Val(); n != 1 {
		t.Errorf("ModeAlways wrote %d events, want 1", n)
	}
}

func TestBadOptionsAndEvents(t *testing.T) {
	t.Parallel()
	for _, o := range []events.Options{{Mode: "sometimes"}, {MaxLen: -1}, {CheckInterval: -1}} {
		if _, err := events.NewPublisher(nil, o); !errors.Is(err, events.ErrBadOptions) {
			t.Errorf("%+v: %v, want ErrBadOptions", o, err)
		}
	}
	if _, err := events.Encode(events.Event{}); !errors.Is(err, events.ErrBadEvent) {
		t.Errorf("event without kind: %v", err)
	}
	for _, c := range []string{"", "queue", "a=1-0&a=2-0", "a=x", "=1-0"} {
		if _, err := events.ParseCursor(c); !errors.Is(err, events.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
		}
	}
	for _, c := range []string{"1733600000000", "1733600000000-3", "a=1-0&b=2-5", "a%2Fb=1"} {
		if _, err := events.ParseCursor(c); err != nil {
			t.Errorf("cursor %q: %v", c, err)
		}
	}
}

// TestOrderAndResume publishes to several queues and checks that a reader
// sees every event once, each queue's in order, and that a reader started
// at any event's cursor continues exactly after it.
func TestOrderAndResume(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	r, err := events.NewReader(ctx, rdb, events.ReaderOptions{Block: 50 * time.Millisecond, Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	// The reader lists the queues from asynq's set.
	rdb.SAdd(ctx, "asynq:queues", "a", "b", "c")
	p := newPublisher(t, rdb, events.Options{Mode: events.ModeAlways})
	const n = 300
	for i := range n {
		q := []string{"a", "b", "c"}[i%3]
		if err := p.PublishAsync(ctx, events.Event{Kind: events.KindProgress, Queue: q, TaskID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Publish(ctx, events.Event{Kind: events.KindProgress, Queue: "a", TaskID: "last"}); err != nil {
		t.Fatal(err)
	}
	all := readN(t, r, n+1)
	if len(all) != n+1 {
		t.Fatalf("read %d events, want %d", len(all), n+1)
	}
	last := map[string]int{}
	for _, it := range all {
		var i int
		if it.TaskID == "last" {
			i = n
		} else {
			_, _ = fmt.Sscan(it.TaskID, &i)
		}
		if prev, ok := last[it.Queue]; ok && i <= prev {
			t.Fatalf("queue %s: event %d after %d", it.Queue, i, prev)
		}
		last[it.Queue] = i
	}
	// Resume from the 100th event: the rest, exactly.
	r2, err := events.NewReader(ctx, rdb, events.ReaderOptions{Cursor: all[99].Cursor, Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rest := readN(t, r2, n+1-100)
	for i, it := range rest {
		if it.ID != all[100+i].ID {
			t.Fatalf("resumed event %d is %s, want %s", i, it.ID, all[100+i].ID)
		}
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	rdb.SAdd(ctx, "asynq:queues", "a", "b")
	start := func(f events.Filter) *events.Reader {
		r, err := events.NewReader(ctx, rdb, events.ReaderOptions{Filter: f, Block: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	byQueue := start(events.Filter{Queues: []string{"b"}})
	byType := start(events.Filter{Types: []string{"x:one"}})
	byTask := start(events.Filter{TaskID: "t2"})
	byFlow := start(events.Filter{WorkflowID: "w1"})
	allowed := start(events.Filter{Queues: []string{"a"}, Allow: func(ev events.Event) bool { return ev.TaskType != "x:one" }})
	p := newPublisher(t, rdb, events.Options{Mode: events.ModeAlways})
	for _, ev := range []events.Event{
		{Kind: events.KindEnqueued, Queue: "a", TaskType: "x:one", TaskID: "t1", WorkflowID: "w1"},
		{Kind: events.KindEnqueued, Queue: "b", TaskType: "x:two", TaskID: "t2"},
		{Kind: events.KindEnqueued, Queue: "a", TaskType: "x:two", TaskID: "t3"},
		{Kind: events.KindWorkflowFinished, WorkflowID: "w1", State: "succeeded", Queue: "b"},
	} {
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(r *events.Reader, n int) string {
		var s string
		for _, it := range readN(t, r, n) {
			s += it.TaskID + it.State + " "
		}
		return s
	}
	for name, c := range map[string]struct {
		r    *events.Reader
		n    int
		want string
	}{
		"queue":    {byQueue, 2, "t2 succeeded "},
		"type":     {byType, 1, "t1 "},
		"task":     {byTask, 1, "t2 "},
		"workflow": {byFlow, 2, "t1 succeeded "},
		"allow":    {allowed, 1, "t3 "},
	} {
		if got := ids(c.r, c.n); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}

// TestProgressThrottled reports progress as fast as a loop can for a
// while and counts the Redis writes: at most one per interval, plus the
// last one at Finish, which always lands.
func TestProgressThrottled(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	const interval = 100 * time.Millisecond
	tr := events.NewTracker(rdb, nil, events.Event{Queue: "q", TaskID: "t", Attempt: 2}, interval)
	start := time.Now()
	calls := 0
	for time.Since(start) < 500*time.Millisecond {
		tr.Report(float64(calls%100), "working")
		calls++
	}
	tr.Report(99.5, "almost")
	tr.Finish()
	elapsed := time.Since(start)
	tr.Report(1, "after Finish is ignored")
	writes := redistest.CommandCalls(t, rdb, "hset")
	if most := int(elapsed/interval) + 2; writes > most || writes < 2 {
		t.Errorf("%d reports in %s made %d writes, want 2..%d", calls, elapsed, writes, most)
	}
	p, err := events.ReadProgress(ctx, rdb, "q", "t")
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Percent != 99.5 || p.Message != "almost" || p.Attempt != 2 || p.UpdatedAt.IsZero() {
		t.Errorf("progress %+v, want the last report", p)
	}
	if ttl := rdb.TTL(ctx, events.ProgressKey("q", "t")).Val(); ttl <= 0 || ttl > events.ProgressTTL {
		t.Errorf("progress TTL %s", ttl)
	}
	if p, err := events.ReadProgress(ctx, rdb, "q", "none"); p != nil || err != nil {
		t.Errorf("no progress: %+v, %v", p, err)
	}
}

// TestProgressEvents checks that a tracker publishes its writes as
// events, clamped.
func TestProgressEvents(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	r, err := events.NewReader(ctx, rdb, events.ReaderOptions{Filter: events.Filter{Queues: []string{"q"}}, Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, rdb, events.Options{})
	tr := events.NewTracker(rdb, p, events.Event{Queue: "q", TaskID: "t", TaskType: "x:y", TraceID: "abc", Attempt: 1}, time.Millisecond)
	tr.Report(150, "over")
	tr.Finish()
	got := readN(t, r, 1)[0]
	if got.Kind != events.KindProgress || got.Percent != 100 || got.Message != "over" || got.TaskType != "x:y" || got.TraceID != "abc" {
		t.Errorf("event %+v", got.Event)
	}
}

// TestStreamBounded checks that the streams are trimmed to about MaxLen.
func TestStreamBounded(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	ctx := t.Context()
	p := newPublisher(t, rdb, events.Options{Mode: events.ModeAlways, MaxLen: 100})
	for range 2000 {
		_ = p.PublishAsync(ctx, events.Event{Kind: events.KindStarted, Queue: "q"})
	}
	_ = p.Publish(ctx, events.Event{Kind: events.KindStarted, Queue: "q"})
	// MAXLEN ~ trims whole macro nodes (100 entries each by default).
	if n := rdb.XLen(ctx, events.StreamKey("q")).Val(); n < 100 || n > 300 {
		t.Errorf("stream holds %d entries, want about 100", n)
	}
}

// TestFirstLookShared checks that the callers arriving while a fresh
// publisher makes its first look for a listener wait for its answer
// rather than take "nobody".
func TestFirstLookShared(t *testing.T) {
	t.Parallel()
	rdb := newRedis(t)
	rdb.Set(t.Context(), events.PresenceKey, "1", time.Minute)
	p := newPublisher(t, rdb, events.Options{})
	var wg sync.WaitGroup
	var off atomic.Int32
	for range 50 {
		wg.Go(func() {
			if !p.Enabled(t.Context()) {
				off.Add(1)
			}
		})
	}
	wg.Wait()
	if n := off.Load(); n > 0 {
		t.Errorf("%d of 50 concurrent first calls saw no listener", n)
	}
}
