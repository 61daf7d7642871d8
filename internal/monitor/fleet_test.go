package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/monitor/ui"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// startWorker runs an asynq server on queue "emails" with concurrency 3
// whose handler blocks until release is closed. It returns once asynq
// records the server with 3 tasks in hand.
func startWorker(t *testing.T, addr string, release <-chan struct{}) {
	t.Helper()
	opt, err := redisconn.ConnOpt(redisAt(addr))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 8)
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:         3,
		Queues:              map[string]int{"emails": 2, "low": 1},
		TaskCheckInterval:   10 * time.Millisecond,
		ShutdownTimeout:     time.Second,
		HealthCheckInterval: time.Hour,
		Logger:              quietLogger{},
	})
	err = srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker took no task within 10s")
	}
	// asynq records a server's active tasks with its heartbeat, every 5s.
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	waitFor(t, "the worker's heartbeat to show 3 active tasks", func() bool {
		servers, err := insp.Servers()
		return err == nil && len(servers) == 1 && len(servers[0].ActiveWorkers) == 3
	})
}

// quietLogger drops asynq's own log lines.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

func TestFleetAPIPageAndMetrics(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 5)
	enqueue(t, srv.Addr(), "reports", 2) // no worker serves it
	release := make(chan struct{})
	defer close(release)
	startWorker(t, srv.Addr(), release)

	// The worker's tuskq side, as cmd/worker publishes it (same process,
	// so the same host and pid as asynq's heartbeat).
	host, _ := os.Hostname()
	rdb, err := redisconn.Client(redisAt(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	state, err := fleetstate.Open(context.WithoutCancel(t.Context()), rdb, fleetstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close(context.WithoutCancel(t.Context()))
	err = state.ReportPlugins(t.Context(), []fleetstate.PluginReport{
		{Name: "thumbnail", Version: "1.4.2", Runtime: "process", Status: "loaded", TaskTypes: []string{"image:thumb"}},
		{Name: "legacy", Version: "0.9.0", Runtime: "native", Status: "failed", Error: "plugin was built with a different version of package tasks"},
		{Name: "wasmhello", Version: "2.0.0", Runtime: "wasm", Status: "loaded", TaskTypes: []string{"hello:wasm"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A published bundle the worker runs.
	bundle, err := fleetstate.NewBundle([]byte("name: wasmhello\nversion: 2.0.0\nruntime: wasm\nentry: hello.wasm\ntask_types:\n  hello:wasm: {}\n"), []byte("\x00asm\x01\x00\x00\x00"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleetstate.NewStore(rdb).Publish(t.Context(), bundle); err != nil {
		t.Fatal(err)
	}

	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/ops"})
	c := noRedirect()

	var rep FleetReport
	waitFor(t, "the fleet to show the worker with 3 active tasks", func() bool {
		resp, body := do(t, c, http.MethodGet, ts.URL+"/ops/api/v1/fleet", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /ops/api/v1/fleet: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		rep = FleetReport{}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		return len(rep.Workers) == 1 && rep.Workers[0].ActiveTasks == 3
	})
	w := rep.Workers[0]
	if w.Host != host || w.PID != os.Getpid() || w.Concurrency != 3 || w.Status != "active" ||
		w.Queues["emails"] != 2 || w.Queues["low"] != 1 || len(w.Active) != 3 || w.Active[0].Type != "email:send" || w.Active[0].Queue != "emails" {
		t.Errorf("worker %+v", w)
	}
	if rep.Totals != (FleetTotals{Workers: 1, Concurrency: 3, ActiveTasks: 3}) {
		t.Errorf("totals %+v", rep.Totals)
	}
	if w.Tuskq == nil || w.Tuskq.WorkerID != state.WorkerID() || len(w.Tuskq.Plugins) != 3 || w.Tuskq.Plugins[0].Name != "legacy" || w.Tuskq.Plugins[0].Error == "" {
		t.Errorf("tuskq part %+v", w.Tuskq)
	}
	if len(rep.Published) != 1 || rep.Published[0].Name != "wasmhello" || rep.Published[0].Version != "2.0.0" || rep.Published[0].SHA256 != bundle.SHA256 ||
		rep.Published[0].Workers[state.WorkerID()] != "2.0.0" || rep.Published[0].Running() != 1 {
		t.Errorf("published %+v; want wasmhello 2.0.0 with digest %s, run by worker %s", rep.Published, bundle.SHA256, state.WorkerID())
	}

	// thumbnail is published to the fleet in a newer version than the
	// worker runs: the worker is behind.
	if err := fleetstate.NewStore(rdb).Publish(t.Context(), fleetstate.Bundle{Name: "thumbnail", Version: "1.5.0", Manifest: []byte("m"), Module: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, c, http.MethodGet, ts.URL+"/ops/api/v1/fleet", nil)
	rep = FleetReport{}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fleet API: %d %v %s", resp.StatusCode, err, body)
	}
	wantPlugins := []FleetPlugin{
		{Name: "legacy", Versions: []FleetPluginVersion{{Version: "0.9.0", Failed: 1}}},
		{Name: "thumbnail", Published: "1.5.0", Versions: []FleetPluginVersion{{Version: "1.4.2", Loaded: 1}}, Behind: 1},
		// Published as a bundle (worker plugins publish) and loaded.
		{Name: "wasmhello", Published: "2.0.0", Versions: []FleetPluginVersion{{Version: "2.0.0", Loaded: 1}}},
	}
	if len(rep.Queues) != 2 || rep.Queues[0].Queue != "emails" || rep.Queues[0].Workers != 1 || len(rep.Queues[0].Processed) != HistoryDays ||
		rep.Queues[1].Queue != "reports" || rep.Queues[1].Workers != 0 || len(rep.Queues[1].Failed) != HistoryDays {
		t.Errorf("queues %+v", rep.Queues)
	}
	if !reflect.DeepEqual(rep.Plugins, wantPlugins) {
		t.Errorf("plugins %+v, want %+v", rep.Plugins, wantPlugins)
	}

	resp, page := do(t, c, http.MethodGet, ts.URL+"/ops/fleet", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /ops/fleet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<p id="fleet-totals">1 worker processes, concurrency 3, 3 active tasks.`,
		"<td>" + host + "</td><td class=\"num\">" + strconv.Itoa(os.Getpid()) + "</td><td>active</td>",
		`<td class="busy"><span class="bar"><svg width="120" height="8" viewBox="0 0 120 8" role="img" aria-label="3 / 3"><rect width="120" height="8" rx="4" fill="var(--track)"/><rect width="120" height="8" rx="4" fill="var(--warn)"/></svg><span>3 / 3</span></span></td>`,
		`<td>emails=2 low=1 </td>`,
		// A version column per plugin, headed with the published version.
		`<th class="plugin-col">legacy</th><th class="plugin-col">thumbnail <span class="muted" title="published version">(1.5.0)</span></th>`,
		`<td class="version"><span class="chip warn" title="process loaded">1.4.2</span> <span class="muted">(process)</span> loaded </td>`,
		`<td class="version"><span class="chip err" title="native failed: plugin was built with a different version of package tasks">0.9.0</span> <span class="muted">(native)</span> failed <span class="err">plugin was built with a different version of package tasks</span> </td>`,
		`<tr><td>thumbnail</td><td>1.5.0</td>`,
		// Queues: who serves them, and their last days as sparklines.
		`<tr data-queue="emails"><td><a href="/ops/queues/emails">emails</a></td>` + "\n" + `<td class="num">1</td>`,
		`<tr data-queue="reports"><td><a href="/ops/queues/reports">reports</a></td>` + "\n" + `<td class="num"><span class="chip err"`,
		`<polyline points="2,22 21.3,22 40.7,22 60,22 79.3,22 98.7,22 118,22"`,
		// The shell's navigation, with asynqmon's views and the fleet active.
		`<a href="/ops/" data-key="queues" title="Queues">`,
		`<a href="/ops/fleet" data-key="fleet" title="Fleet" class="active" aria-current="page">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("fleet page lacks %s", want)
		}
	}

	resp, metrics := do(t, c, http.MethodGet, ts.URL+"/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"tuskq_monitor_redis_up 1\n",
		"tuskq_fleet_workers 1\n",
		"tuskq_fleet_concurrency 3\n",
		"tuskq_fleet_active_tasks 3\n",
		`tuskq_fleet_queue_workers{queue="emails"} 1` + "\n",
		`tuskq_fleet_queue_workers{queue="low"} 1` + "\n",
		`asynq_queue_size{queue="emails"} 5` + "\n",
		`asynq_tasks_enqueued_total{queue="emails",state="active"} 3` + "\n",
		`asynq_tasks_enqueued_total{queue="emails",state="pending"} 2` + "\n",
		`asynq_queue_latency_seconds{queue="emails"}`,
		"go_goroutines ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "tuskq_monitor_failed_logins_total") {
		t.Error("/metrics has login counters without authentication")
	}
}

func TestFleetWithoutWorkersAndWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	var logs testutil.LogBuffer
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), Logger: logs.Logger(t, nil)})
	c := noRedirect()

	_, body := do(t, c, http.MethodGet, ts.URL+"/api/v1/fleet", nil)
	var rep FleetReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil || rep.Workers == nil || len(rep.Workers) != 0 || rep.Totals != (FleetTotals{}) {
		t.Errorf("empty fleet: %v %s", err, body)
	}
	if _, page := do(t, c, http.MethodGet, ts.URL+"/fleet", nil); !strings.Contains(page, `<p id="fleet-empty">No worker process has a live heartbeat in this Redis.</p>`) ||
		strings.Contains(page, `id="plugins"`) {
		t.Errorf("empty fleet page:\n%s", page)
	}
	if _, m := do(t, c, http.MethodGet, ts.URL+"/metrics", nil); !strings.Contains(m, "tuskq_fleet_workers 0\n") {
		t.Errorf("/metrics without workers lacks tuskq_fleet_workers 0")
	}

	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, c, http.MethodGet, ts.URL+"/api/v1/fleet", nil)
	want := `{"error":"monitor: list servers: dial tcp ` + srv.Addr() + `: connect: connection refused"}` + "\n"
	if resp.StatusCode != http.StatusServiceUnavailable || body != want {
		t.Errorf("fleet API with Redis down: %d %q, want 503 %q", resp.StatusCode, body, want)
	}
	resp, page := do(t, c, http.MethodGet, ts.URL+"/fleet", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, `<p class="alert err" id="fleet-error">monitor: list servers: dial tcp `) {
		t.Errorf("fleet page with Redis down: %d\n%s", resp.StatusCode, page)
	}
	resp, m := do(t, c, http.MethodGet, ts.URL+"/metrics", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(m, "tuskq_monitor_redis_up 0\n") || !strings.Contains(m, "go_goroutines ") ||
		strings.Contains(m, "tuskq_fleet_workers") || strings.Contains(m, "asynq_queue_size") {
		t.Errorf("/metrics with Redis down: %d\n%s", resp.StatusCode, m)
	}
	var scrape map[string]any
	for _, rec := range logs.Records(t, "") {
		if rec["msg"] == "metrics scrape" {
			scrape = rec
		}
	}
	if scrape == nil || !strings.Contains(scrape["error"].(string), "connection refused") {
		t.Errorf("no metrics scrape warning naming the refused connection in\n%s", logs.String())
	}
}

func TestUIPagesHaveTuskqNavigation(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/ops/"})
	c := noRedirect()
	link := string(ui.AsynqmonNav("/ops"))
	if !strings.Contains(link, `"path":"/fleet"`) {
		t.Fatalf("the navigation lacks the fleet page: %s", link)
	}
	for _, path := range []string{"/ops/", "/ops/queues/default"} {
		resp, body := do(t, c, http.MethodGet, ts.URL+path, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, link) || !strings.HasSuffix(strings.TrimSpace(body), "</html>") ||
			resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: %d, link present %v, headers %v", path, resp.StatusCode, strings.Contains(body, link), resp.Header)
		}
	}
	// Assets and the API are passed through untouched.
	for _, path := range []string{"/ops/favicon.ico", "/ops/api/queues"} {
		_, body := do(t, c, http.MethodGet, ts.URL+path, nil)
		if strings.Contains(body, "tuskq-nav") {
			t.Errorf("GET %s got the link", path)
		}
	}
}

// TestWorkerProcessesGroupsServers: a tuskq worker runs several asynq
// servers in one process; the fleet counts the process once and adds up
// its servers' concurrency and active tasks.
func TestWorkerProcessesGroupsServers(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	task := func(id string, at time.Time) *asynq.WorkerInfo {
		return &asynq.WorkerInfo{TaskID: id, TaskType: "x:y", Queue: "default", Started: at}
	}
	servers := []*asynq.ServerInfo{
		{ID: "a1", Host: "h1", PID: 10, Concurrency: 5, Status: "active", Started: t0.Add(time.Second),
			Queues: map[string]int{"default": 1}, ActiveWorkers: []*asynq.WorkerInfo{task("t2", t0.Add(2*time.Second))}},
		{ID: "b1", Host: "h2", PID: 10, Concurrency: 20, Status: "active", Started: t0, Queues: map[string]int{"default": 1}},
		{ID: "a2", Host: "h1", PID: 10, Concurrency: 5, Status: "stopped", Started: t0,
			Queues: map[string]int{"default": 1}, ActiveWorkers: []*asynq.WorkerInfo{task("t1", t0.Add(time.Second))}},
	}
	got := workerProcesses(servers)
	if len(got) != 2 {
		t.Fatalf("%d processes; want 2: %+v", len(got), got)
	}
	h1 := got[0]
	if h1.Host != "h1" || h1.Servers != 2 || h1.Concurrency != 10 || h1.ActiveTasks != 2 ||
		!h1.Started.Equal(t0) || h1.Status != "active" || h1.Active[0].ID != "t1" || h1.Active[1].ID != "t2" {
		t.Errorf("h1 = %+v", h1)
	}
	if h2 := got[1]; h2.Host != "h2" || h2.Servers != 1 || h2.Concurrency != 20 || h2.ActiveTasks != 0 {
		t.Errorf("h2 = %+v", h2)
	}
}
