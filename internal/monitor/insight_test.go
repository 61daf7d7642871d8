package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestInsightEndToEnd runs the engine on a real Redis with short
// intervals: a queue whose backlog grows while nothing processes it is
// reported stuck and at risk of its target in the JSON, the metrics and
// the page, and the event hook hears of it.
func TestInsightEndToEnd(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var mu sync.Mutex
	var heard []insight.Anomaly
	h, err := New(Options{
		Redis: redisAt(srv.Addr()),
		Insight: config.InsightConfig{Enabled: true, WebhookCooldown: time.Minute,
			Targets: []config.InsightTarget{{Queue: "critical", Latency: "1s"}}},
		InsightEngine: insight.Config{Interval: 100 * time.Millisecond, Window: time.Second,
			Stall: 500 * time.Millisecond, Warmup: time.Second, HalfLife: time.Minute, Clear: time.Second},
		InsightObservers: []insight.Observer{func(_ context.Context, a insight.Anomaly, resolved bool) {
			mu.Lock()
			defer mu.Unlock()
			if !resolved {
				heard = append(heard, a)
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var running sync.WaitGroup
	running.Go(func() { h.RunInsight(ctx) })
	defer func() { cancel(); running.Wait() }()
	ts := httptest.NewServer(h)
	defer ts.Close()

	// A worker publishes its aggregates: one task type with attempts.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	// A listener of the live event log of critical (registered before
	// the anomaly, as events are written only while someone listens).
	reader, err := events.NewReader(t.Context(), rdb, events.ReaderOptions{
		Filter: events.Filter{Queues: []string{"critical"}}, Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	store := insight.NewStore(rdb)
	rec := insight.NewRecorder(insight.RecorderOptions{Worker: "w1", Queues: []string{"critical"}})
	stop := make(chan struct{})
	var producing sync.WaitGroup
	producing.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			rec.Sink("email:send", "default").Observe(20*time.Millisecond, false, false, insight.Example{})
			_ = store.Publish(ctx, rec.Snapshot(), time.Minute)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	defer func() { close(stop); producing.Wait() }()

	// The backlog of critical grows and nobody consumes it.
	var rep insight.Report
	waitFor(t, "a stuck critical queue in /api/v1/insight", func() bool {
		enqueue(t, srv.Addr(), "critical", 1)
		resp, body := do(t, ts.Client(), "GET", ts.URL+PathInsightAPI, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", PathInsightAPI, resp.StatusCode, body)
		}
		rep = insight.Report{}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		for _, a := range rep.Active {
			if a.Kind == insight.KindStuck && a.Queue == "critical" {
				return true
			}
		}
		return false
	})
	if len(rep.Series) == 0 || rep.Series[0].Type != "email:send" {
		t.Errorf("series: %+v", rep.Series)
	}
	waitFor(t, "the target warning", func() bool {
		enqueue(t, srv.Addr(), "critical", 1)
		_, body := do(t, ts.Client(), "GET", ts.URL+PathMetrics, nil)
		return strings.Contains(body, `tuskq_anomaly_active{kind="stuck_queue",queue="critical",task_type=""} 1`) &&
			strings.Contains(body, `tuskq_queue_target_at_risk{queue="critical"} 1`) &&
			strings.Contains(body, `tuskq_anomaly_active{kind="latency_target",queue="critical",task_type=""} 1`)
	})
	resp, page := do(t, ts.Client(), "GET", ts.URL+PathInsight, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", PathInsight, resp.StatusCode)
	}
	for _, want := range []string{"stuck_queue", "queue critical", "<svg", "email:send", `class="active"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the insight page lacks %q", want)
		}
	}
	// The anomaly is in the live event log, explained.
	var raised *events.Event
	waitFor(t, "anomaly.raised in the event stream of critical", func() bool {
		items, err := reader.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Kind == events.KindAnomalyRaised && it.State == insight.KindStuck {
				raised = &it.Event
				return true
			}
		}
		return false
	})
	if raised.Queue != "critical" || !strings.Contains(raised.Message, "critical") {
		t.Errorf("anomaly event %+v, want queue critical and the explanation", raised)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) == 0 || heard[0].Queue != "critical" {
		t.Errorf("the observer heard %+v", heard)
	}
}
