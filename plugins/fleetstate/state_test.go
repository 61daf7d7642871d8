package fleetstate

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// propagationLimit bounds the wait for a change to reach a State. The
// fleet-wide promise is 2 seconds (a 1 s resync behind the pub/sub
// message), but a loaded machine (-race, 2 cores, parallel tests) can miss
// that by a second or more; the tests assert that the change arrives, by
// the path they name, within a bound every machine meets. The demo and
// the operations guide report the measured propagation time.
const propagationLimit = 15 * time.Second

func newClient(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func open(t *testing.T, rdb redis.UniversalClient, opts Options) *State {
	t.Helper()
	s, err := Open(context.WithoutCancel(t.Context()), rdb, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ticked reports whether ch has a pending value, consuming it.
func ticked(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestChangeReachesEverySubscriberByMessage checks the pub/sub path alone:
// the resync interval is an hour, so only the message can deliver the
// change within the limit.
func TestChangeReachesEverySubscriberByMessage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const n = 3
	states := make([]*State, n)
	ticks := make([]<-chan struct{}, n)
	for i := range states {
		states[i] = open(t, newClient(t, srv.Addr()), Options{ResyncInterval: time.Hour})
		ticks[i] = states[i].Subscribe()
	}
	store := NewStore(newClient(t, srv.Addr()))
	ctx := t.Context()

	was, err := store.SetEnabled(ctx, "hello", false)
	if err != nil || !was {
		t.Fatalf("SetEnabled(false) = %v, %v; want true (enabled before), nil", was, err)
	}
	seen := make([]bool, n)
	took := testutil.Poll(t, propagationLimit, "every state sees hello disabled and ticks", func() bool {
		all := true
		for i, s := range states {
			seen[i] = seen[i] || ticked(ticks[i])
			all = all && seen[i] && !s.Enabled("hello")
		}
		return all
	})
	t.Logf("disable reached %d states in %v", n, took)

	err = store.SetConfig(ctx, "hello", map[string]json.RawMessage{
		"greeting": json.RawMessage(`"hi"`),
		"limits":   json.RawMessage(`{"max": 3, "tags": ["a", "b"]}`),
	}, nil)
	if err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	want := map[string]any{"greeting": "hi", "limits": map[string]any{"max": 3.0, "tags": []any{"a", "b"}}}
	testutil.Poll(t, propagationLimit, "every state sees the config", func() bool {
		for _, s := range states {
			if !reflect.DeepEqual(s.Config("hello"), want) {
				return false
			}
		}
		return true
	})
	for i, s := range states {
		if !s.Enabled("other") || s.Config("other") != nil {
			t.Errorf("state %d: plugin without state: Enabled=%v Config=%v; want true, nil", i, s.Enabled("other"), s.Config("other"))
		}
		if !ticked(ticks[i]) {
			t.Errorf("state %d: no tick after the config change", i)
		}
	}
}

// TestResyncCatchesALostMessage writes a change the way a writer that died
// between EXEC and PUBLISH leaves it: no message is ever sent. The default
// resync interval must still bring it to every worker within the limit.
func TestResyncCatchesALostMessage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const n = 3
	states := make([]*State, n)
	for i := range states {
		states[i] = open(t, newClient(t, srv.Addr()), Options{})
	}
	raw := newClient(t, srv.Addr())
	ctx := t.Context()
	_, err := raw.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, PluginKey("hello"), "enabled", "false", "config.mode", `"fast"`)
		p.SAdd(ctx, KeyNames, "hello")
		p.Incr(ctx, KeyRev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	took := testutil.Poll(t, propagationLimit, "every state converges without a message", func() bool {
		for _, s := range states {
			if s.Enabled("hello") || !reflect.DeepEqual(s.Config("hello"), map[string]any{"mode": "fast"}) {
				return false
			}
		}
		return true
	})
	t.Logf("resync converged %d states in %v (interval %v)", n, took, DefaultResyncInterval)
}

// TestOpenAfterChange is a worker that subscribes after the message was
// published: its first load has the change.
func TestOpenAfterChange(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store := NewStore(newClient(t, srv.Addr()))
	if _, err := store.SetEnabled(t.Context(), "hello", false); err != nil {
		t.Fatal(err)
	}
	s := open(t, newClient(t, srv.Addr()), Options{ResyncInterval: time.Hour})
	if s.Enabled("hello") {
		t.Fatal("Enabled(hello) = true right after Open; want false")
	}
	if s.Rev() != 1 {
		t.Fatalf("Rev() = %d; want 1", s.Rev())
	}
}

// TestResubscribeAfterConnectionLoss kills the subscriber connections; the
// change made meanwhile must still arrive, by the re-subscription or the
// resync.
func TestResubscribeAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, newClient(t, srv.Addr()), Options{})
	raw := newClient(t, srv.Addr())
	ctx := t.Context()
	if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(raw).SetEnabled(ctx, "hello", false); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, propagationLimit, "state converges after its subscription was killed", func() bool { return !s.Enabled("hello") })
	if _, err := NewStore(raw).SetEnabled(ctx, "hello", true); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, propagationLimit, "state sees hello enabled again", func() bool { return s.Enabled("hello") })
}

func TestKeepsLastStateWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	s, err := Open(context.WithoutCancel(t.Context()), newClient(t, srv.Addr()), Options{ResyncInterval: 20 * time.Millisecond, WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(newClient(t, srv.Addr())).SetEnabled(t.Context(), "hello", false); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, propagationLimit, "disabled", func() bool { return !s.Enabled("hello") })
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, propagationLimit, "a resync fails", func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.failing
	})
	if s.Enabled("hello") {
		t.Fatal("Enabled(hello) = true while Redis is down; want the last state (false)")
	}
	err = s.Close(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "fleetstate: delete report of w1: dial tcp "+srv.Addr()) {
		t.Fatalf("Close with Redis down = %v; want the delete report error", err)
	}
}

func TestSubscribeChannelsCloseOnClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := Open(t.Context(), newClient(t, srv.Addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Subscribe()
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("Subscribe channel delivered a value after Close; want closed")
	}
	if _, ok := <-s.Subscribe(); ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
	if err := s.ReportPlugins(t.Context(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReportPlugins after Close = %v; want ErrClosed", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
}

func TestOpenFailsWithoutRedis(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t)
	_, err := Open(t.Context(), newClient(t, addr), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "fleetstate: subscribe to tuskq:{plugins}:changed: dial tcp "+addr) {
		t.Fatalf("Open = %v; want a subscribe error naming %s", err, addr)
	}
}

// TestConcurrentReaders runs Enabled and Config against changes under the
// race detector.
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := open(t, newClient(t, srv.Addr()), Options{ResyncInterval: 10 * time.Millisecond})
	store := NewStore(newClient(t, srv.Addr()))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_ = s.Enabled("hello")
				_ = s.Config("hello")
			}
		})
	}
	for i := range 20 {
		if _, err := store.SetEnabled(ctx, "hello", i%2 == 0); err != nil {
			t.Error(err)
		}
	}
	testutil.Poll(t, propagationLimit, "last change applied", func() bool { return !s.Enabled("hello") && s.Rev() == 20 })
	cancel()
	wg.Wait()
}
