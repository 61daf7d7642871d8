package limits_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// TestWatchFollowsOverrides: a limiter watching the overrides gets a limit
// set at run time, replacing the configured one of its name, and the
// configured one back when it is cleared.
func TestWatchFollowsOverrides(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	configured := []limits.Limit{{Name: "reports", Type: "report:*", Concurrency: 2}}
	lim := limits.New(nil, limits.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { limits.Watch(ctx, rdb, lim, configured, 50*time.Millisecond, nil) })
	defer func() { cancel(); wg.Wait() }()
	concurrencyOf := func(name string) int {
		for _, l := range lim.Limits() {
			if l.Name == name {
				return l.Concurrency
			}
		}
		return -1
	}
	testutil.Poll(t, 20*time.Second, "the configured limit", func() bool { return concurrencyOf("reports") == 2 })
	store := limits.NewStore(rdb)
	if err := store.Set(t.Context(), limits.Limit{Name: "reports", Type: "report:*", Concurrency: 7}); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 20*time.Second, "the override", func() bool { return concurrencyOf("reports") == 7 })
	entries, err := store.List(t.Context(), configured)
	if err != nil || len(entries) != 1 || entries[0].Source != limits.SourceOverride {
		t.Fatalf("List = %+v, %v; want the override alone", entries, err)
	}
	if found, err := store.Clear(t.Context(), "reports"); !found || err != nil {
		t.Fatalf("Clear = %v, %v", found, err)
	}
	testutil.Poll(t, 20*time.Second, "the configured limit again", func() bool { return concurrencyOf("reports") == 2 })
	// A hand-written entry that does not parse is ignored.
	rdb.HSet(t.Context(), limits.OverridesKey, "broken", "{")
	rdb.Incr(t.Context(), limits.RevKey)
	if ov, bad, err := store.Overrides(t.Context()); err != nil || len(ov) != 0 || bad["broken"] == nil {
		t.Fatalf("Overrides = %v, %v, %v; want broken reported", ov, bad, err)
	}
}

// warnings is a slog handler counting warnings.
type warnings struct {
	mu sync.Mutex
	n  int
}

func (h *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnings) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return nil
}
func (h *warnings) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnings) WithGroup(string) slog.Handler      { return h }
func (h *warnings) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// With the default resync (0), a change whose announcement was lost (the
// revision bumped without a message) still reaches the watcher; an entry
// that does not parse is reported to the logger given; clearing a limit
// that is not set reports that there was none.
func TestWatchResyncsAndWarns(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if err := rdb.HSet(t.Context(), limits.OverridesKey, "broken", "{").Err(); err != nil {
		t.Fatal(err)
	}
	lim := limits.New(nil, limits.Options{})
	h := &warnings{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { limits.Watch(ctx, rdb, lim, nil, 0, slog.New(h)) })
	defer func() { cancel(); wg.Wait() }()
	testutil.Poll(t, 20*time.Second, "a warning about the broken entry", func() bool { return h.count() > 0 })
	// A change written without its announcement.
	if err := rdb.HSet(t.Context(), limits.OverridesKey, "quiet", `{"name":"quiet","type":"x","concurrency":"4"}`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Incr(t.Context(), limits.RevKey).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 30*time.Second, "the unannounced change, by the resync", func() bool {
		ls := lim.Limits()
		return len(ls) == 1 && ls[0].Name == "quiet" && ls[0].Concurrency == 4
	})
	if found, err := limits.NewStore(rdb).Clear(t.Context(), "nope"); found || err != nil {
		t.Errorf("Clear of a limit not set = %v, %v; want false", found, err)
	}
}
