package monitor

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile and returns a
// chromedp context for one tab. Without Chromium the test fails with the
// install command, or is skipped with -short.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		p, lookErr := exec.LookPath("chromium")
		if lookErr != nil {
			if testing.Short() {
				t.Skip("chromium not installed; skipped with -short")
			}
			t.Fatalf("chromium not found at %s or on PATH: install it with 'apt-get install -y chromium' (.ci/run does), or run go test -short", chromiumPath)
		}
		path = p
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1400, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, without a deadline: a deadline on the first
	// run would bound the browser's whole life.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// step runs actions with a bound so that a stuck page fails the test.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression, awaiting a promise, with a bound.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshotsEnv names a directory where the browser tests also write
// their screenshots (created if missing), to look at the monitor's pages
// without keeping go test's artifacts. They are never committed.
const screenshotsEnv = "TUSKQ_SCREENSHOTS"

// screenshot writes a PNG of the page into the test's artifact directory
// (a temporary directory unless go test -artifacts keeps it) and, when
// $TUSKQ_SCREENSHOTS is set, into that directory too.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv(screenshotsEnv); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("%s: %v", screenshotsEnv, err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, png, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
}

func TestBrowserViewerSeesQueuesAndFleetAndCannotChangeThem(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "reports", 7)
	enqueue(t, srv.Addr(), "emails", 5)
	release := make(chan struct{})
	defer close(release)
	startWorker(t, srv.Addr(), release) // takes 3 of the emails

	var logs testutil.LogBuffer
	mctx, stop := context.WithCancel(t.Context())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(mctx, Options{
			Redis: redisAt(srv.Addr()), Listen: "127.0.0.1:0", RootPath: "/ops/",
			Auth: authConfig(t, 10, time.Second), Logger: logs.Logger(t, nil),
			OnListen: func(a net.Addr) { listening <- a },
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String() + "/ops"
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}

	login := func(user, pw string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Authorization": hdr},
			})
			return err
		})
	}
	// Wrong credentials: the server answers 401 and Chromium gives up on
	// the page.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := chromedp.Do(wctx, login("bob", "guess"), chromedp.Navigate(base+"/"))
	cancel()
	if err == nil || !strings.Contains(err.Error(), "net::ERR_INVALID_AUTH_CREDENTIALS") {
		t.Errorf("page with a wrong password: %v, want net::ERR_INVALID_AUTH_CREDENTIALS", err)
	}

	// The viewer logs in and sees the dashboard with the queues' counts.
	step(t, ctx, "log in as viewer", login("bob", viewerPassword), chromedp.Navigate(base+"/"))
	step(t, ctx, "queues table",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[chromedp.Void](`document.body.innerText.includes("reports") && document.body.innerText.includes("emails")`,
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		}))
	if ro := eval[string](t, ctx, `window.FLAG_READ_ONLY`); ro != "true" {
		t.Errorf("viewer UI read-only flag %q, want true", ro)
	}
	// The size column of each queue's row in the dashboard table.
	rows := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("table tbody tr")].map(tr =>
		[...tr.children].map(c => c.innerText.trim())).filter(c => c.length > 2).map(c => [c[0], c.join("|")]))`)
	if r := rows["reports"]; !strings.Contains("|"+r+"|", "|7|") {
		t.Errorf("dashboard row of reports %q, want a size of 7 (rows %v)", r, rows)
	}
	if r := rows["emails"]; !strings.Contains("|"+r+"|", "|5|") {
		t.Errorf("dashboard row of emails %q, want a size of 5 (rows %v)", r, rows)
	}
	// tuskq's entries are in asynqmon's drawer, after its own.
	step(t, ctx, "tuskq's navigation in asynqmon's drawer", chromedp.WaitVisible(chromedp.CSS(`.MuiDrawer-paper #tuskq-nav a[data-key="fleet"]`)))
	screenshot(t, ctx, "viewer-dashboard.png")

	// The fleet entry leads to the fleet page with the worker.
	step(t, ctx, "open the fleet page", chromedp.Click(chromedp.CSS(`#tuskq-nav a[data-key="fleet"]`)), chromedp.WaitVisible(chromedp.CSS("#fleet")))
	fleetText := eval[string](t, ctx, `document.getElementById("fleet").innerText`)
	host, _ := os.Hostname()
	for _, want := range []string{host, "3 / 3", "emails=2 low=1"} {
		if !strings.Contains(fleetText, want) {
			t.Errorf("fleet table lacks %q:\n%s", want, fleetText)
		}
	}
	if url := eval[string](t, ctx, `location.pathname`); url != "/ops/fleet" {
		t.Errorf("fleet page at %s", url)
	}
	screenshot(t, ctx, "viewer-fleet.png")

	// The workflows page lists a workflow and draws its graph, each step
	// linking to asynqmon's task page.
	wfID := enqueueDiamond(t, srv.Addr(), "flows")
	step(t, ctx, "open the workflows page", chromedp.Navigate(base+"/workflows"), chromedp.WaitVisible(chromedp.CSS("#workflows")))
	if list := eval[string](t, ctx, `document.getElementById("workflows").innerText`); !strings.Contains(list, wfID) || !strings.Contains(list, "running") {
		t.Errorf("workflows table lacks %s running:\n%s", wfID, list)
	}
	if active := eval[string](t, ctx, `document.querySelector("#tuskq-nav a.active").dataset.key`); active != "workflows" {
		t.Errorf("active navigation item %q, want workflows", active)
	}
	step(t, ctx, "open the workflow", chromedp.Click(chromedp.CSS(`#workflows a[href$="`+wfID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#workflow-graph")))
	nodes := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#workflow-graph a.step")].map(a => [a.dataset.step, a.dataset.state + " " + a.getAttribute("href")]))`)
	if len(nodes) != 4 || nodes["a"] != "released /ops/queues/flows/tasks/wf:"+wfID+":a" || !strings.HasPrefix(nodes["d"], "waiting ") {
		t.Errorf("graph nodes %v", nodes)
	}
	if edges := eval[int](t, ctx, `document.querySelectorAll("#workflow-graph line").length`); edges != 4 {
		t.Errorf("graph has %d edges, want 4", edges)
	}
	screenshot(t, ctx, "workflow.png")
	step(t, ctx, "follow a step to asynqmon", chromedp.Click(chromedp.CSS(`#workflow-graph a[data-step="a"] rect`)))
	// The page navigates: evaluations during the navigation fail, and are
	// tried again.
	testutil.Poll(t, 30*time.Second, "asynqmon's task page of step a", func() bool {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](`location.pathname === "/ops/queues/flows/tasks/wf:`+wfID+`:a" && document.body.innerText.includes("flow:step")`))
		return err == nil && ok
	})
	screenshot(t, ctx, "workflow-step.png")

	// A mutating call from the page, as the UI would make it: refused.
	status := eval[int](t, ctx, `fetch("/ops/api/queues/reports:pause", {method: "POST"}).then(r => r.status)`)
	if status != 403 {
		t.Errorf("viewer POST pause from the browser: %d, want 403", status)
	}
	if q := queues(t, base+"/api/queues", bearer(adminToken)); !paused(q, "reports", false) {
		t.Errorf("after the refused pause: %+v", q)
	}
}

// paused reports whether queue is in qs with the paused state want.
func paused(qs []queueSnapshot, queue string, want bool) bool {
	for _, q := range qs {
		if q.Queue == queue {
			return q.Paused == want
		}
	}
	return false
}

// TestBrowserInsightShowsAStuckQueue opens the Insight page: a queue whose
// backlog grows with no worker is shown stuck, with its forecast, under
// the shared navigation.
func TestBrowserInsightShowsAStuckQueue(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	srv := redistest.Start(t)
	mctx, stop := context.WithCancel(t.Context())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(mctx, Options{
			Redis: redisAt(srv.Addr()), Listen: "127.0.0.1:0",
			Insight: config.InsightConfig{Enabled: true, WebhookCooldown: time.Minute,
				Targets: []config.InsightTarget{{Queue: "reports", Latency: "1s"}}},
			InsightEngine: insight.Config{Interval: 100 * time.Millisecond, Window: time.Second,
				Stall: 500 * time.Millisecond, Warmup: time.Second, Clear: time.Minute},
			OnListen: func(a net.Addr) { listening <- a },
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	// A worker publishes its aggregates: a type that starts failing.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	store := insight.NewStore(rdb)
	rec := insight.NewRecorder(insight.RecorderOptions{Worker: "host:1:abc", Queues: []string{"default"}})
	publish := func(n int, failed bool) {
		for i := range n {
			rec.Sink("email:send", "default").Observe(time.Duration(10+i%20)*time.Millisecond, failed, failed,
				insight.Example{TaskID: "task-" + strconv.Itoa(i), TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Error: "smtp: connection refused"})
		}
		if err := store.Publish(t.Context(), rec.Snapshot(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a stuck reports queue", func() bool {
		publish(5, false)
		enqueue(t, srv.Addr(), "reports", 1)
		_, body := do(t, noRedirect(), "GET", base+PathInsightAPI, nil)
		return strings.Contains(body, `"kind": "stuck_queue"`)
	})
	waitFor(t, "failing email:send", func() bool {
		publish(5, true)
		enqueue(t, srv.Addr(), "reports", 1)
		_, body := do(t, noRedirect(), "GET", base+PathInsightAPI, nil)
		return strings.Contains(body, `"kind": "error_rate"`)
	})
	step(t, ctx, "open the insight page", chromedp.Navigate(base+PathInsight),
		chromedp.WaitVisible(chromedp.CSS(`.anomaly[data-kind="stuck_queue"]`)))
	text := eval[string](t, ctx, `document.querySelector("main").innerText`)
	for _, want := range []string{"Active anomalies", "queue reports:", "nothing processed since", "at risk", "email:send on queue default: failures", "smtp: connection refused"} {
		if !strings.Contains(text, want) {
			t.Errorf("the insight page lacks %q:\n%s", want, text)
		}
	}
	if active := eval[string](t, ctx, `document.querySelector("#tuskq-nav a.active").dataset.key`); active != "insight" {
		t.Errorf("active navigation item %q, want insight", active)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("svg.spark polyline.live").length`); n < 2 {
		t.Errorf("%d sparklines, want those of email:send", n)
	}
	if href := eval[string](t, ctx, `document.querySelector(".anomaly[data-kind=error_rate] a").getAttribute("href")`); !strings.HasPrefix(href, "/queues/default/tasks/task-") {
		t.Errorf("example failure links to %q, want asynqmon's task page", href)
	}
	screenshot(t, ctx, "insight.png")
}

// enqueueDiamond enqueues the workflow a → b, c → d of flow:step tasks in
// queue and returns its ID.
func enqueueDiamond(t *testing.T, addr, queue string) string {
	t.Helper()
	opt, err := redisconn.ConnOpt(redisAt(addr))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := tasks.EnqueueOptions{Queue: queue}
	wf := tasks.NewWorkflow()
	wf.Step("a", "flow:step", nil).Options(o)
	wf.Step("b", "flow:step", nil).After("a").Options(o)
	wf.Step("c", "flow:step", nil).After("a").Options(o)
	wf.Step("d", "flow:step", nil).After("b", "c").Options(o)
	info, err := c.EnqueueWorkflow(t.Context(), wf)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}
