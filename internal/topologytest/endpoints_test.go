package topologytest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/monitor"
	"github.com/tuskq/tuskq/tasks"
)

// startAPI runs the HTTP enqueue API (what "enqueue serve" runs) with cfg
// until the test ends and returns its base URL.
func startAPI(t *testing.T, cfg config.Config) string {
	t.Helper()
	cfg.API.Listen = "127.0.0.1:0"
	listening := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- httpapi.Run(ctx, httpapi.Options{Config: cfg, OnListen: func(a net.Addr) { listening <- a }})
	}()
	select {
	case a := <-listening:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("httpapi.Run: %v", err)
			}
		})
		return "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("httpapi.Run returned before serving: %v", err)
	case <-time.After(waitFor):
		cancel()
		t.Fatal("the API did not serve in time")
	}
	return ""
}

// post sends a JSON body with headers (name, value pairs).
func post(t *testing.T, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: waitFor}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// testHTTPAPI: POST /v1/tasks twice with one Idempotency-Key stores one
// task (routed by the config's routes) and replays the first answer; GET
// returns the task; a worker completes it exactly once.
func testHTTPAPI(t *testing.T, tp *topo) {
	qs := tp.queues(t, "api", 2)
	cfg := tp.config(weights(qs))
	cfg.Routes = map[string]config.RouteConfig{"api:*": {Queue: qs[1], MaxRetry: intp(3)}}
	base := startAPI(t, cfg)

	body := `{"type":"api:send","payload":{"to":"a@example.com"}}`
	r1, b1 := post(t, base+httpapi.PathTasks, body, httpapi.HeaderIdempotencyKey, "order-"+tp.mode)
	r2, b2 := post(t, base+httpapi.PathTasks, body, httpapi.HeaderIdempotencyKey, "order-"+tp.mode)
	if r1.StatusCode != http.StatusCreated || r2.StatusCode != http.StatusCreated || b1 != b2 {
		t.Fatalf("answers %d %s and %d %s; want two identical 201", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	if r1.Header.Get(httpapi.HeaderReplayed) == "true" || r2.Header.Get(httpapi.HeaderReplayed) != "true" {
		t.Fatalf("replayed headers %q, %q; want the second only", r1.Header.Get(httpapi.HeaderReplayed), r2.Header.Get(httpapi.HeaderReplayed))
	}
	var tc httpapi.TaskCreated
	if err := json.Unmarshal([]byte(b1), &tc); err != nil {
		t.Fatal(err)
	}
	if tc.Queue != qs[1] || tc.Type != "api:send" || tc.State != "pending" || !strings.HasPrefix(tc.ID, "idem-") {
		t.Fatalf("created %+v; want a pending api:send in the routed queue %s with an ID derived from the key", tc, qs[1])
	}
	c := tp.client(t)
	qi, err := c.Inspector().GetQueueInfo(qs[1])
	if err != nil {
		t.Fatal(err)
	}
	if qi.Size != 1 || qi.Pending != 1 {
		t.Fatalf("queue %s holds %d tasks (%d pending); want exactly 1", qs[1], qi.Size, qi.Pending)
	}

	code, got := httpGet(t, base+"/v1/queues/"+tc.Queue+"/tasks/"+tc.ID)
	var td httpapi.TaskDetail
	if err := json.Unmarshal([]byte(got), &td); err != nil || code != http.StatusOK {
		t.Fatalf("GET the task: %d %s (%v)", code, got, err)
	}
	if td.ID != tc.ID || td.Queue != qs[1] || td.State != "pending" || td.MaxRetry != 3 ||
		string(td.Payload) != `{"to":"a@example.com"}` || td.TraceID != tc.TraceID {
		t.Fatalf("GET the task: %+v; want the created task with max_retry 3 from the route", td)
	}

	rec, reg := recording("api:send")
	startWorker(t, cfg, reg)
	poll(t, "the worker to process the API's task", func() bool { return rec.count() == 1 })
	poll(t, "the queue to empty", func() bool {
		qi, err := c.Inspector().GetQueueInfo(qs[1])
		return err == nil && qi.Size == 0 && qi.Processed == 1
	})
	if s := rec.byID()[tc.ID]; len(s) != 1 || s[0].traceID != tc.TraceID {
		t.Fatalf("task seen %+v; want once with trace %s", s, tc.TraceID)
	}
}

// testMonitorFleet: the monitor's fleet API lists this process as a
// worker with the task it is processing in this test's queue.
func testMonitorFleet(t *testing.T, tp *topo) {
	qs := tp.queues(t, "fleet", 1)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	reg := tasks.NewRegistry()
	reg.MustRegister("topo:hold", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	startWorker(t, tp.config(weights(qs)), reg)
	defer close(release)
	c := tp.client(t)
	info, err := c.Enqueue(t.Context(), "topo:hold", []byte(`{}`), &tasks.EnqueueOptions{Queue: qs[0]})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the task did not start")
	}

	h, err := monitor.New(monitor.Options{Redis: tp.redis})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		if err := h.Close(); err != nil {
			t.Errorf("monitor close: %v", err)
		}
	})
	host, _ := os.Hostname()
	var last string
	// asynq records the tasks in hand with each heartbeat, every 5 s.
	poll(t, "the fleet to list the worker with the task", func() bool {
		code, body := httpGet(t, ts.URL+monitor.PathFleetAPI)
		last = body
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", monitor.PathFleetAPI, code, body)
		}
		var rep monitor.FleetReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		for _, w := range rep.Workers {
			if w.Host != host || w.PID != os.Getpid() || w.Status != "active" {
				continue
			}
			for _, a := range w.Active {
				if a.ID == info.ID && a.Queue == qs[0] && a.Type == "topo:hold" {
					return true
				}
			}
		}
		return false
	})
	if !strings.Contains(last, `"totals"`) {
		t.Fatalf("fleet report %s has no totals", last)
	}
}
