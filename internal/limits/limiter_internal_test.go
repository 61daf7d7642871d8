package limits

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// The documented defaults of a Limiter and of a limit's optional fields.
func TestDefaults(t *testing.T) {
	t.Parallel()
	l := New(nil, Options{})
	if l.opts.LeaseTTL != 30*time.Second || l.opts.MaxWait != 2*time.Second || l.opts.Backstop != 5*time.Second {
		t.Errorf("defaults %+v; want lease 30s, max wait 2s, backstop 5s", l.opts)
	}
	if keyIdle != 10*time.Minute {
		t.Errorf("keyIdle = %s; want 10m", keyIdle)
	}
	// What the admit script is sent: the defaults of burst and max keys
	// when unset, the limit's own when set.
	for _, c := range []struct {
		lim           Limit
		burst, maxKey string
	}{
		{Limit{Name: "d", Rate: Rate{N: 1, Per: time.Second}}, "1", "10000"},
		{Limit{Name: "d", Rate: Rate{N: 1, Per: time.Second}, Burst: 3, MaxKeys: 4}, "3", "4"},
	} {
		a := armedFor(l, c.lim)
		if a.args[5] != c.burst || a.args[0] != c.maxKey {
			t.Errorf("%+v: burst %v, max keys %v sent; want %s, %s", c.lim, a.args[5], a.args[0], c.burst, c.maxKey)
		}
	}
}

// armedFor is lim as l arms it: from l's limits when it enforces lim,
// else built with l's options.
func armedFor(l *Limiter, lim Limit) *armed {
	set := *l.set.Load()
	for i := range set {
		if set[i].Limit == lim {
			return &set[i]
		}
	}
	return &(*New([]Limit{lim}, l.opts).set.Load())[0]
}

// acquire takes a slot of the concurrency limit lim for task id of queue
// by the admit script: ok with the slot, or refused with the deferral's
// wait (the first lease's remaining life, bounded to 1s..Backstop).
func (l *Limiter) acquire(ctx context.Context, rdb redis.UniversalClient, lim Limit, t *asynq.Task, queue, id string) (slot, time.Duration, bool, error) {
	s, _, de, err := l.admit(ctx, rdb, armedFor(l, lim), t, queue, id)
	if err != nil {
		return slot{}, 0, false, err
	}
	if de != nil {
		if de.Reason != tasks.ReasonConcurrency || de.Limit != lim.Name {
			return slot{}, 0, false, fmt.Errorf("refused by %s for %s; want concurrency", de.Limit, de.Reason)
		}
		return slot{}, de.After, false, nil
	}
	return s, 0, true, nil
}

// take takes a start of the rate limit lim by the admit script: ok with
// the local time to start at, or refused with when to come back.
func (l *Limiter) take(ctx context.Context, rdb redis.UniversalClient, lim Limit, t *asynq.Task) (time.Time, time.Duration, bool, error) {
	_, at, de, err := l.admit(ctx, rdb, armedFor(l, lim), t, "q", "rate-task")
	if err != nil {
		return time.Time{}, 0, false, err
	}
	if de != nil {
		if de.Reason != tasks.ReasonRate || de.Limit != lim.Name {
			return time.Time{}, 0, false, fmt.Errorf("refused by %s for %s; want rate", de.Limit, de.Reason)
		}
		return time.Time{}, de.After, false, nil
	}
	return at, 0, true, nil
}

func startLimiter(t *testing.T, ls []Limit, opts Options) (*Limiter, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(ls, opts)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	l.Start(ctx, rdb)
	return l, rdb
}

// Concurrency slots: capacity many tasks hold one, a task asking again
// keeps its one, the next waits for the first lease and is queued as a
// waiter, a release frees the slot and pops the waiter.
func TestAcquireAndRelease(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "c", Type: "x", Concurrency: 2}
	// A backstop above the lease, so that the wait is the lease's.
	l, rdb := startLimiter(t, []Limit{lim}, Options{LeaseTTL: 20 * time.Second, Backstop: time.Minute})
	ctx := t.Context()
	task := asynq.NewTask("x", nil)
	var held []slot
	for _, id := range []string{"a", "b", "a"} {
		s, _, ok, err := l.acquire(ctx, rdb, lim, task, "q", id)
		if err != nil || !ok {
			t.Fatalf("acquire %s = %v, %v; want a slot", id, ok, err)
		}
		held = append(held, s)
	}
	if n := rdb.ZCard(ctx, slotsKey("c", "")).Val(); n != 2 {
		t.Fatalf("%d leases; want 2 (a asked twice, holds one)", n)
	}
	_, wait, ok, err := l.acquire(ctx, rdb, lim, task, "q", "c")
	if err != nil || ok {
		t.Fatalf("acquire c = %v, %v; want refused", ok, err)
	}
	if wait <= 10*time.Second || wait > 20*time.Second {
		t.Errorf("c waits %s; want the first lease's remaining life (at most 20s, more than 10s)", wait)
	}
	if w := rdb.ZRange(ctx, waitersKey("c", ""), 0, -1).Val(); len(w) != 1 || w[0] != "q\nc" {
		t.Errorf("waiters %q; want c", w)
	}
	l.mu.Lock()
	if ids := l.held[slotsKey("c", "")]; len(ids) != 2 {
		t.Errorf("held %v; want a and b", ids)
	}
	l.mu.Unlock()
	l.release(ctx, rdb, "q", "a", held[:1])
	l.mu.Lock()
	if ids := l.held[slotsKey("c", "")]; len(ids) != 1 {
		t.Errorf("held %v after a's release; want b still (its lease is renewed)", ids)
	}
	l.mu.Unlock()
	l.release(ctx, rdb, "q", "b", held[1:2])
	l.mu.Lock()
	if len(l.held) != 0 {
		t.Errorf("held %v after the releases; want none", l.held)
	}
	l.mu.Unlock()
	if n := rdb.ZCard(ctx, waitersKey("c", "")).Val(); n != 0 {
		t.Errorf("%d waiters after a release; want the waiter popped", n)
	}
	if _, _, ok, err := l.acquire(ctx, rdb, lim, task, "q", "c"); err != nil || !ok {
		t.Fatalf("acquire c after the releases = %v, %v; want a slot", ok, err)
	}
}

// A keyed limit counts each key value apart, up to MaxKeys values; a task
// of a further value shares the (other) bucket.
func TestKeyedSlots(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "k", Type: "x", Concurrency: 1, Key: "payload.c", MaxKeys: 2}
	l, rdb := startLimiter(t, []Limit{lim}, Options{})
	ctx := t.Context()
	for i, c := range []struct {
		customer, slots string
		ok              bool
	}{
		{"a", slotsKey("k", "a"), true},
		{"b", slotsKey("k", "b"), true},
		{"a", "", false}, // a's one slot is taken
		{"c", slotsKey("k", OtherKey), true},
		{"d", "", false}, // (other)'s one slot is taken by c
	} {
		s, _, ok, err := l.acquire(ctx, rdb, lim, asynq.NewTask("x", []byte(`{"c":"`+c.customer+`"}`)), "q", "t"+string(rune('0'+i)))
		if err != nil || ok != c.ok || (ok && s.slots != c.slots) {
			t.Errorf("task %d of %s: slot %q, ok %v, %v; want %q, %v", i, c.customer, s.slots, ok, err, c.slots, c.ok)
		}
	}
}

// Running tasks renew their leases every LeaseTTL/3, before they expire.
func TestLeasesRenewed(t *testing.T) {
	t.Parallel()
	const ttl = 6 * time.Second
	lim := Limit{Name: "r", Type: "x", Concurrency: 1}
	l, rdb := startLimiter(t, []Limit{lim}, Options{LeaseTTL: ttl})
	ctx := t.Context()
	if _, _, ok, err := l.acquire(ctx, rdb, lim, asynq.NewTask("x", nil), "q", "a"); err != nil || !ok {
		t.Fatalf("acquire = %v, %v", ok, err)
	}
	first := rdb.ZScore(ctx, slotsKey("r", ""), "a").Val()
	var renewed float64
	testutil.Poll(t, 60*time.Second, "the lease to be renewed", func() bool {
		renewed = rdb.ZScore(ctx, slotsKey("r", ""), "a").Val()
		return renewed > first
	})
	// The renewal happened at renewed-ttl (Redis time): within the first
	// lease's life, a third of the way in (not later than two thirds, to
	// leave room for a loaded machine).
	at := renewed - float64(ttl.Milliseconds())
	if at >= first-float64(ttl.Milliseconds())/3 {
		t.Errorf("renewed %.0f ms after the acquisition; want about %d ms (LeaseTTL/3)", at-(first-float64(ttl.Milliseconds())), ttl.Milliseconds()/3)
	}
	// Past the first lease's expiry the task still holds its slot.
	testutil.Poll(t, 60*time.Second, "Redis's clock to pass the first lease's expiry", func() bool {
		now, err := rdb.Time(ctx).Result()
		return err == nil && float64(now.UnixMilli()) > first
	})
	if _, _, ok, err := l.acquire(ctx, rdb, lim, asynq.NewTask("x", nil), "q", "b"); err != nil || ok {
		t.Errorf("a second task got a slot (%v, %v) while the first still runs past its first lease", ok, err)
	}
	if ttlKey := rdb.PTTL(ctx, slotsKey("r", "")).Val(); ttlKey <= ttl || ttlKey > 2*ttl {
		t.Errorf("slots key expires in %s; want up to 2×LeaseTTL", ttlKey)
	}
}

// GCRA: with 1/s and no burst the first start is now, the next ones one
// second apart while within MaxWait, and a later one is refused with when
// to come back.
func TestRateStarts(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "g", Type: "x", Rate: Rate{N: 1, Per: time.Second}}
	l, rdb := startLimiter(t, []Limit{lim}, Options{MaxWait: 2500 * time.Millisecond})
	ctx := t.Context()
	task := asynq.NewTask("x", nil)
	var starts []time.Time
	for range 3 {
		at, _, ok, err := l.take(ctx, rdb, lim, task)
		if err != nil || !ok {
			t.Fatalf("take %d = %v, %v; want a start", len(starts), ok, err)
		}
		starts = append(starts, at)
	}
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("start %d is %s after the previous; want about 1s", i, d)
		}
	}
	_, back, ok, err := l.take(ctx, rdb, lim, task)
	if err != nil || ok {
		t.Fatalf("fourth take = %v, %v; want refused", ok, err)
	}
	if back < 500*time.Millisecond || back > 3*time.Second {
		t.Errorf("come back in %s; want about 2s (the fourth start, 3s on, less what was waited)", back)
	}
	if tat := rdb.HGet(ctx, rateKey("g", ""), "tat").Val(); tat == "" {
		t.Error("no rate state in Redis")
	}
}

// Middleware: a task no limit matches runs; a task whose limit is full is
// deferred (reason and limit named, after the first lease's remaining life
// bounded by the backstop); when Redis does not answer, the task is
// deferred by the backstop rather than run.
func TestMiddlewareDefers(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "m", Type: "x", Concurrency: 1}
	l, rdb := startLimiter(t, []Limit{lim}, Options{LeaseTTL: 3 * time.Second, Backstop: 20 * time.Second})
	ctx := t.Context()
	ran := 0
	h := l.Middleware()(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { ran++; return nil }))
	if err := h.ProcessTask(ctx, asynq.NewTask("y", nil)); err != nil || ran != 1 {
		t.Fatalf("unlimited task: %v, ran %d", err, ran)
	}
	if _, _, ok, err := l.acquire(ctx, rdb, lim, asynq.NewTask("x", nil), "q", "holder"); err != nil || !ok {
		t.Fatal("holder", ok, err)
	}
	var de *tasks.DeferError
	err := h.ProcessTask(ctx, asynq.NewTask("x", nil))
	if !errors.As(err, &de) || ran != 1 || de.Reason != tasks.ReasonConcurrency || de.Limit != "m" || de.After < time.Second || de.After > 3*time.Second {
		t.Fatalf("full limit: %v (%+v), ran %d; want deferred for concurrency by m, after 1s to 3s", err, de, ran)
	}
	down := New([]Limit{lim}, Options{Backstop: 7 * time.Second})
	bad := redis.NewClient(&redis.Options{Addr: redistest.UnreachableAddr(t), MaxRetries: -1})
	defer bad.Close()
	down.rdb.Store(func() *redis.UniversalClient { var u redis.UniversalClient = bad; return &u }())
	err = down.Middleware()(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { ran++; return nil })).ProcessTask(ctx, asynq.NewTask("x", nil))
	if !errors.As(err, &de) || ran != 1 || de.After != 7*time.Second || de.Reason != tasks.ReasonConcurrency {
		t.Fatalf("Redis down: %v (%+v), ran %d; want deferred by the backstop", err, de, ran)
	}
	rl := Limit{Name: "rr", Type: "x", Rate: Rate{N: 1, Per: time.Second}}
	down.SetLimits([]Limit{rl})
	if err = down.Middleware()(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { ran++; return nil })).ProcessTask(ctx, asynq.NewTask("x", nil)); !errors.As(err, &de) || ran != 1 || de.Reason != tasks.ReasonRate || de.Limit != "rr" {
		t.Fatalf("Redis down, rate: %v (%+v), ran %d; want deferred for rate", err, de, ran)
	}
}

// The clock mapping comes from the narrowest round trip seen: a wider one
// does not replace it until clockRefresh has passed; the answer is the
// local time at which Redis's clock reads the admitted time.
func TestObserveKeepsNarrowestSample(t *testing.T) {
	t.Parallel()
	l := New(nil, Options{})
	base := time.Unix(1_000_000, 0)
	redisUS := func(d time.Duration) int64 { return base.Add(d).UnixMicro() }
	// Round trip of 10ms, Redis 1s ahead of the midpoint: offset 1s.
	at := l.observe("n", base, base.Add(10*time.Millisecond), redisUS(1005*time.Millisecond), 200*time.Millisecond)
	if want := base.Add(205 * time.Millisecond); !at.Equal(want) {
		t.Fatalf("first sample: start at %s; want %s", at.Sub(base), want.Sub(base))
	}
	// A wider round trip (40ms) with another offset is ignored...
	sent := base.Add(time.Second)
	at = l.observe("n", sent, sent.Add(40*time.Millisecond), sent.Add(1500*time.Millisecond).UnixMicro(), 0)
	if want := sent.Add(500 * time.Millisecond); !at.Equal(want) {
		t.Errorf("wider sample: start at %s; want %s (the old offset)", at.Sub(sent), want.Sub(sent))
	}
	// ...an equally narrow one replaces it...
	at = l.observe("n", sent, sent.Add(10*time.Millisecond), sent.Add(2005*time.Millisecond).UnixMicro(), 0)
	if want := sent.Add(5 * time.Millisecond); !at.Equal(want) {
		t.Errorf("as narrow: start at %s; want %s (its own offset, 2s)", at.Sub(sent), want.Sub(sent))
	}
	// ...a wider one exactly clockRefresh later does not yet...
	edge := sent.Add(10*time.Millisecond + clockRefresh - 40*time.Millisecond)
	at = l.observe("n", edge, edge.Add(40*time.Millisecond), edge.Add(1520*time.Millisecond).UnixMicro(), 0)
	if want := edge.Add(-480 * time.Millisecond); !at.Equal(want) {
		t.Errorf("sample exactly clockRefresh old: start at %s; want %s (still the 2s offset)", at.Sub(edge), want.Sub(edge))
	}
	// ...and a wider one does once the sample is older than clockRefresh.
	late := sent.Add(clockRefresh + time.Second)
	at = l.observe("n", late, late.Add(40*time.Millisecond), late.Add(20*time.Millisecond).UnixMicro(), 0)
	if !at.Equal(late.Add(20 * time.Millisecond)) {
		t.Errorf("stale sample: start at %s; want 20ms (offset 0)", at.Sub(late))
	}
	// Another limit (another Redis node) starts from Start's calibration.
	l.clocks[""] = &clock{offset: -time.Second, width: time.Millisecond, at: late}
	at = l.observe("other", late, late.Add(5*time.Millisecond), late.UnixMicro(), 0)
	if !at.Equal(late.Add(time.Second)) {
		t.Errorf("other limit: start at %s; want 1s (the calibration's offset)", at.Sub(late))
	}
}

// A start admitted a little in the future (within MaxWait) is waited for
// inside the worker: the second task of a 1/s limit runs no sooner than
// about a second after the first.
func TestRateWaitsInWorker(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "w", Type: "x", Rate: Rate{N: 1, Per: time.Second}}
	l, _ := startLimiter(t, []Limit{lim}, Options{MaxWait: 5 * time.Second})
	var ran []time.Time
	h := l.Middleware()(tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { ran = append(ran, time.Now()); return nil }))
	for range 2 {
		if err := h.ProcessTask(t.Context(), asynq.NewTask("x", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(ran) != 2 || ran[1].Sub(ran[0]) < 700*time.Millisecond {
		t.Fatalf("runs %v; want two, the second about 1s after the first", ran)
	}
}

// A release promotes the oldest task waiting for the slot that is still
// scheduled: a task deferred to the scheduled set is made pending at once.
func TestReleasePromotesWaiter(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "p", Type: "x", Concurrency: 1}
	l, rdb := startLimiter(t, []Limit{lim}, Options{})
	ctx := t.Context()
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("x", nil), asynq.Queue("q"), asynq.TaskID("w1"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	task := asynq.NewTask("x", nil)
	s, _, ok, err := l.acquire(ctx, rdb, lim, task, "q", "holder")
	if err != nil || !ok {
		t.Fatal("holder", ok, err)
	}
	// The oldest waiter's task is gone (deleted meanwhile): the next one
	// is promoted.
	for _, id := range []string{"gone", "w1"} {
		if _, _, ok, err := l.acquire(ctx, rdb, lim, task, "q", id); err != nil || ok {
			t.Fatal(id, "got a slot", ok, err)
		}
	}
	l.release(ctx, rdb, "q", "holder", []slot{s})
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo("q", "w1")
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("w1 after the release: %v, %v; want pending", info, err)
	}
}

// Start calibrates the clock mapping from a few round trips before the
// first task: Redis runs on this host's clock, so the offset is within
// the round trip.
func TestStartCalibrates(t *testing.T) {
	t.Parallel()
	l, _ := startLimiter(t, nil, Options{})
	l.mu.Lock()
	c := l.clocks[""]
	l.mu.Unlock()
	if c == nil {
		t.Fatal("no calibration after Start")
	}
	if c.width <= 0 || c.offset > c.width+time.Millisecond || c.offset < -c.width-time.Millisecond {
		t.Errorf("calibration offset %s over a round trip of %s; want within the round trip", c.offset, c.width)
	}
}

// InUse counts the live leases of a limit over all its key values (the
// (other) bucket included), not the expired ones; a rate-only limit has
// none; an unreachable Redis is an error.
func TestInUse(t *testing.T) {
	t.Parallel()
	keyed := Limit{Name: "u", Type: "x", Concurrency: 1, Key: "payload.c", MaxKeys: 3}
	plain := Limit{Name: "v", Type: "x", Concurrency: 3}
	l, rdb := startLimiter(t, nil, Options{LeaseTTL: time.Hour})
	ctx := t.Context()
	for i, c := range []string{"a", "b", "c", "d"} { // d goes to (other)
		if _, _, ok, err := l.acquire(ctx, rdb, keyed, asynq.NewTask("x", []byte(`{"c":"`+c+`"}`)), "q", "k"+c); err != nil || !ok {
			t.Fatalf("acquire %d: %v, %v", i, ok, err)
		}
	}
	for _, id := range []string{"p1", "p2"} {
		if _, _, ok, err := l.acquire(ctx, rdb, plain, asynq.NewTask("x", nil), "q", id); err != nil || !ok {
			t.Fatalf("acquire %s: %v, %v", id, ok, err)
		}
	}
	// An expired lease is not counted.
	if err := rdb.ZAdd(ctx, slotsKey("v", ""), redis.Z{Score: 1, Member: "gone"}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		l    Limit
		want int64
	}{{keyed, 4}, {plain, 2}, {Limit{Name: "v", Type: "x", Rate: Rate{N: 1, Per: time.Second}}, 0}} {
		if n, err := InUse(ctx, rdb, c.l); err != nil || n != c.want {
			t.Errorf("InUse(%s) = %d, %v; want %d", c.l.Name, n, err, c.want)
		}
	}
	bad := redis.NewClient(&redis.Options{Addr: redistest.UnreachableAddr(t), MaxRetries: -1})
	defer bad.Close()
	if _, err := InUse(ctx, bad, plain); err == nil {
		t.Error("InUse on an unreachable Redis: no error")
	}
}

// One admit script takes the slot and the rate start of a limit together:
// a task refused by the capacity spends no start, and a task refused by
// the rate takes no slot.
func TestAdmitSlotAndStartTogether(t *testing.T) {
	t.Parallel()
	lim := Limit{Name: "both", Type: "x", Concurrency: 1, Rate: Rate{N: 1, Per: time.Second}}
	l, rdb := startLimiter(t, []Limit{lim}, Options{MaxWait: 100 * time.Millisecond})
	ctx := t.Context()
	task := asynq.NewTask("x", nil)
	a := armedFor(l, lim)
	s, _, de, err := l.admit(ctx, rdb, a, task, "q", "a")
	if err != nil || de != nil || s.slots != slotsKey("both", "") {
		t.Fatalf("first task: slot %q, %v, %v; want a slot and a start", s.slots, de, err)
	}
	tat := rdb.HGet(ctx, rateKey("both", ""), "tat").Val()
	if _, _, de, err = l.admit(ctx, rdb, a, task, "q", "b"); err != nil || de == nil || de.Reason != tasks.ReasonConcurrency {
		t.Fatalf("second task while the slot is held: %v, %v; want refused for concurrency", de, err)
	}
	if got := rdb.HGet(ctx, rateKey("both", ""), "tat").Val(); got != tat {
		t.Errorf("rate state %s after a refusal by the capacity; want %s (no start spent)", got, tat)
	}
	l.release(ctx, rdb, "q", "a", []slot{s})
	if _, _, de, err = l.admit(ctx, rdb, a, task, "q", "b"); err != nil || de == nil || de.Reason != tasks.ReasonRate {
		t.Fatalf("second task within the interval: %v, %v; want refused for rate", de, err)
	}
	if n := rdb.ZCard(ctx, slotsKey("both", "")).Val(); n != 0 {
		t.Errorf("%d slots taken after a refusal by the rate; want none", n)
	}
}
