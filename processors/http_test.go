package processors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// seen is what a test endpoint received.
type seen struct {
	method string
	header http.Header
	body   string
}

// endpoint starts an httptest server whose handler records each request on
// the returned channel and then calls h.
func endpoint(t *testing.T, h http.HandlerFunc) (*httptest.Server, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- seen{method: r.Method, header: r.Header.Clone(), body: string(body)}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// hostOf returns the host:port of a test server.
func hostOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// newTestProcessor builds http:request with the allow-list and version
// "test".
func newTestProcessor(t *testing.T, logger *slog.Logger, allow ...string) *httpProcessor {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p, err := newHTTPProcessor(Options{HTTPAllowHosts: allow, Version: "test"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// httpTask returns an http:request task with the given payload and headers.
func httpTask(payload string, headers map[string]string) *asynq.Task {
	return asynq.NewTaskWithHeaders(TypeHTTPRequest, []byte(payload), headers)
}

func TestHTTPRequestEmptyAllowList(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	p := newTestProcessor(t, nil)
	err := p.ProcessTask(t.Context(), httpTask(`{"url":"`+srv.URL+`/hook"}`, nil))
	want := fmt.Sprintf(`http:request: host %q is not in worker.http_allow_hosts; add it to the config to allow it`, hostOf(srv))
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, ErrHostNotAllowed) {
		t.Errorf("err does not wrap asynq.SkipRetry and ErrHostNotAllowed")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("endpoint was called %d times, want 0", n)
	}
}

func TestHTTPRequestSuccess(t *testing.T) {
	t.Parallel()
	srv, reqs := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newTestProcessor(t, logger, hostOf(srv))
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	task := httpTask(`{"url":"`+srv.URL+`/hook?token=s3cret","headers":{"X-Tenant":"7"},"body":{"order": 42, "note":"secret-payload"}}`,
		map[string]string{"traceparent": traceparent, "tracestate": "vendor=1"})
	res, err := p.do(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	if *res != (httpResult{Status: 201, Body: `{"ok":true}`}) {
		t.Errorf("result = %+v", *res)
	}
	got := <-reqs
	wantHeaders := map[string]string{
		"Traceparent":     traceparent,
		"Tracestate":      "vendor=1",
		"User-Agent":      "tuskq/test",
		"Content-Type":    "application/json",
		"X-Tenant":        "7",
		"Idempotency-Key": "", // only known inside a worker; see the asynq test
	}
	for k, v := range wantHeaders {
		if g := got.header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if got.method != "POST" || got.body != `{"order":42,"note":"secret-payload"}` {
		t.Errorf("request = %s %q, want POST with the compact JSON body", got.method, got.body)
	}
	line := logs.String()
	for _, want := range []string{`"msg":"http:request finished"`, `"method":"POST"`, `"host":"` + hostOf(srv) + `"`, `"status":201`, `"duration_ms":`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %s lacks %s", line, want)
		}
	}
	for _, secret := range []string{"s3cret", "secret-payload"} {
		if strings.Contains(line, secret) {
			t.Errorf("log %s contains %q", line, secret)
		}
	}
}

func TestHTTPRequestGetWithoutBody(t *testing.T) {
	t.Parallel()
	srv, reqs := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "len=%d", r.ContentLength)
	})
	p := newTestProcessor(t, nil, hostOf(srv))
	res, err := p.do(t.Context(), httpTask(`{"method":"get","url":"`+srv.URL+`"}`, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := <-reqs
	if got.method != "GET" || got.body != "" || got.header.Get("Content-Type") != "" || res.Body != "len=0" {
		t.Errorf("request %s body %q content type %q, result %+v", got.method, got.body, got.header.Get("Content-Type"), res)
	}
}

func TestHTTPRequestTruncatesBody(t *testing.T) {
	t.Parallel()
	// "é" is two bytes; the cut at 64 KiB falls inside one.
	long := "x" + strings.Repeat("é", MaxResultBody/2+10)
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, long) })
	p := newTestProcessor(t, nil, hostOf(srv))
	res, err := p.do(t.Context(), httpTask(`{"url":"`+srv.URL+`"}`, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Body) != MaxResultBody-1 || !strings.HasPrefix(long, res.Body) {
		t.Errorf("truncated %v, body of %d bytes; want truncated, %d bytes, a prefix of the response", res.Truncated, len(res.Body), MaxResultBody-1)
	}
}

func TestHTTPRequestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		body       string
		retryable  bool
		want       string
		wantDelay  time.Duration
	}{
		{404, "", "no such hook", false, `responded 404 Not Found (not retried: a 4xx other than 408 and 429 needs a changed request): "no such hook"`, 0},
		{400, "", "", false, `responded 400 Bad Request (not retried: a 4xx other than 408 and 429 needs a changed request)`, 0},
		{304, "", "", false, `responded 304 Not Modified (not retried)`, 0},
		{503, "7", "busy", true, `responded 503 Service Unavailable (retryable; Retry-After 7s): "busy"`, 7 * time.Second},
		{429, "x", "", true, `responded 429 Too Many Requests (retryable)`, 0},
		{408, "", "", true, `responded 408 Request Timeout (retryable)`, 0},
		{500, "", strings.Repeat("e", 300), true, `responded 500 Internal Server Error (retryable): "` + strings.Repeat("e", 200) + `"`, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			p := newTestProcessor(t, nil, hostOf(srv))
			err := p.ProcessTask(t.Context(), httpTask(`{"method":"PUT","url":"`+srv.URL+`/x?secret=1","body":"hi"}`, nil))
			want := "http:request: PUT " + hostOf(srv) + " " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("err =\n  %v\nwant\n  %s", err, want)
			}
			if got := errors.Is(err, asynq.SkipRetry); got == tt.retryable {
				t.Errorf("errors.Is(err, asynq.SkipRetry) = %v, want %v", got, !tt.retryable)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || se.Retryable() != tt.retryable {
				t.Errorf("err is not a *StatusError with status %d", tt.status)
			}
			if d, ok := RetryAfter(err); d != tt.wantDelay || ok != (tt.wantDelay > 0) {
				t.Errorf("RetryAfter = %s, %v; want %s", d, ok, tt.wantDelay)
			}
			// A 429 or 503 with Retry-After is a deferral, charged no retry
			// by a tuskq worker.
			d, deferred := tasks.Deferral(err)
			wantDeferred := tt.wantDelay > 0 && (tt.status == 429 || tt.status == 503)
			if deferred != wantDeferred || (deferred && (d.After != tt.wantDelay || d.Reason != tasks.ReasonRateLimited)) {
				t.Errorf("Deferral = %+v, %v; want deferred %v for %s", d, deferred, wantDeferred, tt.wantDelay)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Thu, 02 Jan 2025 03:05:05 GMT": time.Minute,
		"Thu, 02 Jan 2025 03:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestHTTPRequestRedirect(t *testing.T) {
	t.Parallel()
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { otherHits.Add(1) }))
	t.Cleanup(other.Close)
	_, otherPort, _ := net.SplitHostPort(hostOf(other))
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://LocalHost:"+otherPort+"/steal", http.StatusFound)
		case "/other-port":
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		case "/home":
			http.Redirect(w, r, "/final", http.StatusSeeOther)
		case "/final":
			_, _ = io.WriteString(w, "arrived")
		}
	})
	const tail = ` is not in worker.http_allow_hosts; add it to the config to allow it`
	for _, p := range []*httpProcessor{
		newTestProcessor(t, nil, hostOf(srv)),
		func() *httpProcessor { // a caller's own client gets the check too
			p, err := newHTTPProcessor(Options{HTTPAllowHosts: []string{hostOf(srv)}, HTTPClient: &http.Client{}}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}(),
	} {
		for path, want := range map[string]string{
			"/away": `http:request: redirect to host "localhost:` + otherPort + `"` + tail,
			"/other-port": `http:request: redirect to host "` + hostOf(other) + `": port ` + otherPort +
				` of that host is not allowed (an entry without a port allows 80 and 443 only); add "` + hostOf(other) + `" to worker.http_allow_hosts to allow it`,
		} {
			_, err := p.do(t.Context(), httpTask(`{"url":"`+srv.URL+path+`"}`, nil))
			if err == nil || err.Error() != want {
				t.Errorf("%s: err =\n  %v\nwant\n  %s", path, err, want)
			}
			if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, ErrHostNotAllowed) {
				t.Errorf("%s: err does not wrap asynq.SkipRetry and ErrHostNotAllowed", path)
			}
		}
		res, err := p.do(t.Context(), httpTask(`{"url":"`+srv.URL+`/home"}`, nil))
		if err != nil || res.Body != "arrived" {
			t.Errorf("redirect within the allowed host: %+v, %v", res, err)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the host that is not allowed was called %d times", n)
	}
}

func TestHTTPRequestNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t) // a held port nothing listens on
	p := newTestProcessor(t, nil, addr)
	err := p.ProcessTask(t.Context(), httpTask(`{"url":"http://`+addr+`/"}`, nil))
	want := "http:request: POST " + addr + ": dial tcp " + addr + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if errors.Is(err, asynq.SkipRetry) {
		t.Error("a network error wraps asynq.SkipRetry; want it retried")
	}
}

func TestHTTPRequestTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	p := newTestProcessor(t, nil, hostOf(srv))
	err := p.ProcessTask(t.Context(), httpTask(`{"url":"`+srv.URL+`","timeout":"50ms"}`, nil))
	want := "http:request: POST " + hostOf(srv) + ": no response within 50ms (the payload's timeout): context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if errors.Is(err, asynq.SkipRetry) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err should be retried and wrap context.DeadlineExceeded")
	}
}

func TestHTTPRequestContextCanceled(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	srv, _ := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	p := newTestProcessor(t, nil, hostOf(srv))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.ProcessTask(ctx, httpTask(`{"url":"`+srv.URL+`"}`, nil)) }()
	<-entered
	cancel()
	select {
	case err := <-done:
		want := "http:request: POST " + hostOf(srv) + ": context canceled"
		if err == nil || err.Error() != want || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want %s wrapping context.Canceled", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ProcessTask did not return within 10s of the cancel")
	}
}

func TestHTTPRequestDialGuard(t *testing.T) {
	t.Parallel()
	// The URL is allowed, but the dial lands on an unspecified address that
	// the guard's list does not name.
	urlList, err := parseAllowList([]string{"0.0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	p := &httpProcessor{allow: urlList, client: defaultClient(nil), logger: slog.New(slog.DiscardHandler), userAgent: "tuskq/test"}
	_, err = p.do(t.Context(), httpTask(`{"url":"http://0.0.0.0:80/"}`, nil))
	const want = "http:request: refusing to dial 0.0.0.0, an unspecified address; list it (or a range holding it) literally in worker.http_allow_hosts to allow it"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if !errors.Is(err, asynq.SkipRetry) {
		t.Error("err does not wrap asynq.SkipRetry")
	}
}

func TestHTTPResultJSON(t *testing.T) {
	t.Parallel()
	for res, want := range map[httpResult]string{
		{Status: 200, Body: "ok"}:                    `{"status":200,"body":"ok"}`,
		{Status: 200, Body: "\xff", Truncated: true}: `{"status":200,"body":"\ufffd","truncated":true}`,
	} {
		got, err := json.Marshal(res)
		if err != nil || string(got) != want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", res, got, err, want)
		}
	}
}

// An allowed host name that resolves to a loopback address (as a name an
// attacker points at the worker's own services would) is refused at dial
// time, after resolution; listing the loopback range literally allows it.
func TestHTTPRequestAllowedNameResolvingToLoopback(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(hostOf(srv))
	url := `{"url":"http://localhost:` + port + `/hook"}`

	p := newTestProcessor(t, nil, "localhost:"+port)
	_, err := p.do(t.Context(), httpTask(url, nil))
	const tail = " address; list it (or a range holding it) literally in worker.http_allow_hosts to allow it"
	want4 := "http:request: refusing to dial 127.0.0.1, a loopback" + tail
	want6 := "http:request: refusing to dial ::1, a loopback" + tail
	if err == nil || err.Error() != want4 && err.Error() != want6 {
		t.Fatalf("err = %v\nwant %s (or the same for ::1)", err, want4)
	}
	if !errors.Is(err, ErrHostNotAllowed) || !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("err %v does not wrap ErrHostNotAllowed and asynq.SkipRetry", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server was called %d times", n)
	}

	p = newTestProcessor(t, nil, "localhost:"+port, "127.0.0.0/8", "::1")
	if _, err := p.do(t.Context(), httpTask(url, nil)); err != nil {
		t.Fatalf("with the loopback range listed: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the loopback server was called %d times; want 1", n)
	}
}
