package insight

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/processors"
)

// hook is a webhook receiver that records the bodies it gets.
type hook struct {
	mu     sync.Mutex
	bodies []payload
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p payload
	_ = json.Unmarshal(b, &p)
	h.mu.Lock()
	h.bodies = append(h.bodies, p)
	h.mu.Unlock()
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

// TestNotifierCooldown: one post per anomaly and event within the
// cooldown; another anomaly and the resolution are posted.
func TestNotifierCooldown(t *testing.T) {
	t.Parallel()
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	now := time.Now()
	var mu sync.Mutex
	n, err := NewNotifier(NotifierOptions{URL: srv.URL + "/hook", Cooldown: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	go n.Run(ctx)
	a := Anomaly{Key: "error_rate|q|t|", Kind: KindErrorRate, Queue: "q", TaskType: "t", Summary: "t on queue q: failures 42 %"}
	b := Anomaly{Key: "stuck_queue|r||", Kind: KindStuck, Queue: "r"}
	n.Observe(ctx, a, false)
	n.Observe(ctx, a, false) // within the cooldown: dropped
	n.Observe(ctx, b, false)
	n.Observe(ctx, a, true)
	testutil.Poll(t, 10*time.Second, "three posts", func() bool { return h.count() >= 3 })
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	n.Observe(ctx, a, false) // after the cooldown: posted again
	testutil.Poll(t, 10*time.Second, "four posts", func() bool { return h.count() >= 4 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bodies) != 4 || h.bodies[0].Event != "anomaly.raised" || h.bodies[0].Anomaly.Summary != a.Summary {
		t.Fatalf("posts: %+v", h.bodies)
	}
	events := map[string]int{}
	for _, p := range h.bodies {
		events[p.Event+" "+p.Anomaly.Key]++
	}
	if events["anomaly.raised error_rate|q|t|"] != 2 || events["anomaly.resolved error_rate|q|t|"] != 1 {
		t.Fatalf("events: %v", events)
	}
}

// TestNotifierGuard: the webhook goes through http:request's guard: a
// name that resolves to loopback is refused unless private addresses are
// allowed; a scheme other than http(s) is refused at once.
func TestNotifierGuard(t *testing.T) {
	t.Parallel()
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	n, err := NewNotifier(NotifierOptions{URL: byName})
	if err != nil {
		t.Fatal(err)
	}
	err = n.post(t.Context(), payload{Event: "anomaly.raised"})
	if !errors.Is(err, processors.ErrHostNotAllowed) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("post to %s = %v; want a refused loopback address", byName, err)
	}
	n, err = NewNotifier(NotifierOptions{URL: byName, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.post(t.Context(), payload{Event: "anomaly.raised"}); err != nil || h.count() != 1 {
		t.Fatalf("with private addresses allowed: %v, %d posts", err, h.count())
	}
	if _, err := NewNotifier(NotifierOptions{URL: "file:///etc/passwd"}); !errors.Is(err, ErrBadWebhook) {
		t.Fatalf("file URL: %v", err)
	}
}
