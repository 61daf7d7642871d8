package monitor

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// serve starts New(opts) behind an httptest server.
func serve(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		if err := h.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ts
}

type queueSnapshot struct {
	Queue   string `json:"queue"`
	Pending int    `json:"pending"`
	Paused  bool   `json:"paused"`
}

// queues calls asynqmon's GET <root>/api/queues.
func queues(t *testing.T, url string, hdr ...map[string]string) []queueSnapshot {
	t.Helper()
	var h map[string]string
	if len(hdr) > 0 {
		h = hdr[0]
	}
	resp, body := do(t, noRedirect(), http.MethodGet, url, h)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var got struct {
		Queues []queueSnapshot `json:"queues"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
	return got.Queues
}

func TestHandlerServesUIAndAPIUnderRootPath(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 7)
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/monitor/"})
	c := noRedirect()

	resp, body := do(t, c, http.MethodGet, ts.URL+"/monitor/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /monitor/: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"<title>Asynq - Monitoring</title>",
		`window.FLAG_ROOT_PATH="\/monitor"`, // JS-escaped by html/template
		`window.FLAG_READ_ONLY="false"`,
		`<script src="/monitor/static/js/main.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /monitor/: body lacks %q", want)
		}
	}
	wantHeaders := map[string]string{
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for k, v := range wantHeaders {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET /monitor/: %s = %q, want %q", k, got, v)
		}
	}

	got := queues(t, ts.URL+"/monitor/api/queues")
	if len(got) != 1 || got[0] != (queueSnapshot{Queue: "emails", Pending: 7}) {
		t.Errorf("GET /monitor/api/queues: %+v, want one queue emails with 7 pending", got)
	}

	// The UI's own asset, served from asynqmon's embedded build.
	resp, _ = do(t, c, http.MethodGet, ts.URL+"/monitor/favicon.ico", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /monitor/favicon.ico: %d", resp.StatusCode)
	}
	// The server root and the root path without its slash lead to the UI.
	for path, code := range map[string]int{"/": http.StatusFound, "/monitor": http.StatusTemporaryRedirect} {
		resp, _ = do(t, c, http.MethodGet, ts.URL+path, nil)
		if resp.StatusCode != code || resp.Header.Get("Location") != "/monitor/" {
			t.Errorf("GET %s: %d Location %q, want %d to /monitor/", path, resp.StatusCode, resp.Header.Get("Location"), code)
		}
	}
	// Outside the root path there is nothing.
	resp, _ = do(t, c, http.MethodGet, ts.URL+"/other/api/queues", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other/api/queues: %d, want 404", resp.StatusCode)
	}
}

func TestHandlerDefaultRootPath(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "default", 3)
	ts := serve(t, Options{Redis: redisAt(srv.Addr())})

	resp, body := do(t, noRedirect(), http.MethodGet, ts.URL+"/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `window.FLAG_ROOT_PATH=""`) {
		t.Errorf("GET /: %d, root path flag missing in %.300s", resp.StatusCode, body)
	}
	got := queues(t, ts.URL+"/api/queues")
	if len(got) != 1 || got[0] != (queueSnapshot{Queue: "default", Pending: 3}) {
		t.Errorf("GET /api/queues: %+v, want one queue default with 3 pending", got)
	}
	resp, body = do(t, noRedirect(), http.MethodGet, ts.URL+"/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz under root /: %d %q, want 200 ok", resp.StatusCode, body)
	}
}

func TestReadOnlyRefusesMutations(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 2)
	ro := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/m", ReadOnly: true})
	rw := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/m"})
	c := noRedirect()

	resp, body := do(t, c, http.MethodGet, ro.URL+"/m/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `window.FLAG_READ_ONLY="true"`) {
		t.Errorf("read-only UI: %d, read-only flag missing", resp.StatusCode)
	}

	resp, body = do(t, c, http.MethodPost, ro.URL+"/m/api/queues/emails:pause", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed ||
		body != "API Server is running in read-only mode: POST request is not allowed\n" {
		t.Errorf("read-only POST pause: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, c, http.MethodDelete, ro.URL+"/m/api/queues/emails/pending_tasks:delete_all", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed ||
		body != "API Server is running in read-only mode: DELETE request is not allowed\n" {
		t.Errorf("read-only DELETE all pending: %d %q", resp.StatusCode, body)
	}
	if got := queues(t, ro.URL+"/m/api/queues"); len(got) != 1 || got[0] != (queueSnapshot{Queue: "emails", Pending: 2}) {
		t.Errorf("after refused mutations: %+v, want emails with 2 pending, not paused", got)
	}

	// The same call goes through without read-only, so the refusal above
	// is read-only's doing.
	resp, body = do(t, c, http.MethodPost, rw.URL+"/m/api/queues/emails:pause", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("read-write POST pause: %d %q, want 204", resp.StatusCode, body)
	}
	if got := queues(t, rw.URL+"/m/api/queues"); len(got) != 1 || !got[0].Paused {
		t.Errorf("after pause: %+v, want emails paused", got)
	}
}

func TestReadyzFollowsRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	var logs testutil.LogBuffer
	logger := logs.Logger(t, nil)
	// go-redis retries a refused dial with backoff; on a loaded machine
	// that outlasts the default 2 s ping deadline, and the error would
	// name the deadline instead of the refused connection.
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/monitor/", Logger: logger, PingTimeout: 15 * time.Second})
	c := noRedirect()
	check := func(step, path string, code int, body string) {
		t.Helper()
		resp, got := do(t, c, http.MethodGet, ts.URL+path, nil)
		if resp.StatusCode != code || got != body {
			t.Errorf("%s: GET %s = %d %q, want %d %q", step, path, resp.StatusCode, got, code, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: GET %s Cache-Control %q, want no-store", step, path, cc)
		}
	}

	check("redis up", "/healthz", http.StatusOK, "ok\n")
	check("redis up", "/readyz", http.StatusOK, "ok\n")

	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	check("redis killed", "/readyz", http.StatusServiceUnavailable, "redis unreachable\n")
	check("redis killed", "/readyz", http.StatusServiceUnavailable, "redis unreachable\n")
	check("redis killed", "/healthz", http.StatusOK, "ok\n")

	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	check("redis restarted", "/readyz", http.StatusOK, "ok\n")

	// One line per change, not one per probe.
	recs := logs.Records(t, "")
	if len(recs) != 2 {
		t.Fatalf("log: %d records, want 2:\n%s", len(recs), logs.String())
	}
	if recs[0]["level"] != "WARN" || recs[0]["msg"] != "redis unreachable: /readyz reports 503" ||
		!strings.HasPrefix(recs[0]["error"].(string), "monitor: redis ping: dial tcp "+srv.Addr()+": connect: connection refused") {
		t.Errorf("log[0] = %v", recs[0])
	}
	if recs[1]["level"] != "INFO" || recs[1]["msg"] != "redis reachable again: /readyz reports 200" {
		t.Errorf("log[1] = %v", recs[1])
	}
}

func TestForeignHostAndCrossOriginRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 1)
	ts := serve(t, Options{Redis: redisAt(srv.Addr())})
	c := noRedirect()
	_, port, err := net.SplitHostPort(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port = ":" + port

	for _, host := range []string{"evil.example" + port, "evil.example", "10.0.0.1" + port} {
		resp, body := do(t, c, http.MethodGet, ts.URL+"/api/queues", map[string]string{"Host": host})
		want := `monitor: host "` + host + `" is not allowed; without authentication the monitor answers only to 127.0.0.1, [::1] and localhost` + "\n"
		if resp.StatusCode != http.StatusForbidden || body != want {
			t.Errorf("Host %s: %d %q, want 403 %q", host, resp.StatusCode, body, want)
		}
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port, "[::1]" + port, "LOCALHOST"} {
		resp, _ := do(t, c, http.MethodGet, ts.URL+"/api/queues", map[string]string{"Host": host})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", host, resp.StatusCode)
		}
	}
	// Probes may use any name.
	resp, _ := do(t, c, http.MethodGet, ts.URL+"/healthz", map[string]string{"Host": "monitor.internal"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with a foreign Host: %d, want 200", resp.StatusCode)
	}

	// A page of another site posting to the monitor is refused; the same
	// request from the UI itself goes through.
	resp, _ = do(t, c, http.MethodPost, ts.URL+"/api/queues/emails:pause",
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	if got := queues(t, ts.URL+"/api/queues"); len(got) != 1 || got[0].Paused {
		t.Errorf("after cross-site POST: %+v, want emails not paused", got)
	}
	resp, _ = do(t, c, http.MethodPost, ts.URL+"/api/queues/emails:pause",
		map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("same-origin POST: %d, want 204", resp.StatusCode)
	}
}

func TestMiddlewareWrapsUIOnly(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var (
		mu    sync.Mutex
		order []string
	)
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				w.Header().Add("X-Middleware", name)
				next.ServeHTTP(w, r)
			})
		}
	}
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), Middleware: []func(http.Handler) http.Handler{mw("outer"), mw("inner")}})
	c := noRedirect()

	resp, _ := do(t, c, http.MethodGet, ts.URL+"/api/queues", nil)
	if got := resp.Header.Values("X-Middleware"); strings.Join(got, ",") != "outer,inner" {
		t.Errorf("/api/queues: X-Middleware %v, want [outer inner]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "outer,inner" {
		t.Errorf("order %v, want [outer inner]", order)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, _ := do(t, c, http.MethodGet, ts.URL+path, nil)
		if got := resp.Header.Values("X-Middleware"); len(got) != 0 {
			t.Errorf("%s: X-Middleware %v, want none", path, got)
		}
	}
}

func TestNewRejectsBadRootPath(t *testing.T) {
	t.Parallel()
	const expect = "; expected a URL path such as /monitor/"
	for path, why := range map[string]string{
		"monitor":      "it does not start with /",
		"//":           "it has an empty segment",
		"/a//b":        "it has an empty segment",
		"/a/../b":      "it has a . or .. segment",
		"/./":          "it has a . or .. segment",
		"/a b":         `' ' is not allowed; use letters, digits, '-', '_', '.' and '~'`,
		"/{x}":         `'{' is not allowed; use letters, digits, '-', '_', '.' and '~'`,
		"/healthz/":    "it is reserved for the health endpoint",
		"/readyz":      "it is reserved for the health endpoint",
		"/a/b?c":       `'?' is not allowed; use letters, digits, '-', '_', '.' and '~'`,
		"/ünïcode/ok/": `'ü' is not allowed; use letters, digits, '-', '_', '.' and '~'`,
	} {
		_, err := New(Options{Redis: redisAt("127.0.0.1:1"), RootPath: path})
		want := "monitor: invalid options: monitor.root_path \"" + path + "\" is not valid: " + why + expect
		if err == nil || err.Error() != want || !errors.Is(err, ErrBadOptions) {
			t.Errorf("root path %q: %v\nwant %s", path, err, want)
		}
	}
	for path, want := range map[string]string{"": "", "/": "", "/a/b-c_d.e~f/": "/a/b-c_d.e~f", "/x": "/x"} {
		h, err := New(Options{Redis: redisAt("127.0.0.1:1"), RootPath: path})
		if err != nil {
			t.Errorf("root path %q: %v", path, err)
			continue
		}
		if h.RootPath() != want {
			t.Errorf("root path %q: RootPath() = %q, want %q", path, h.RootPath(), want)
		}
		_ = h.Close()
	}
}

func TestNewRejectsBadRedisConfig(t *testing.T) {
	t.Parallel()
	rc := redisAt("127.0.0.1:1")
	rc.TLS.CAFile = t.TempDir() + "/missing.pem"
	_, err := New(Options{Redis: rc})
	want := "monitor: redis.tls.ca_file: open " + rc.TLS.CAFile + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("New: %v, want %s", err, want)
	}
}
