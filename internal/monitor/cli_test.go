package monitor

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// running is a Main started by startMain.
type running struct {
	addr   net.Addr
	stderr *testutil.LogBuffer
	cancel context.CancelFunc
	code   chan int
	// exited and exitCode hold Main's result once stop has seen it.
	exited   bool
	exitCode int
}

// startMain runs Main with args until it serves and returns it running.
func startMain(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{stderr: &testutil.LogBuffer{}, cancel: cancel, code: make(chan int, 1)}
	listening := make(chan net.Addr, 1)
	go func() {
		r.code <- Main(ctx, Env{
			Args:     args,
			Environ:  []string{},
			Stdout:   &bytes.Buffer{},
			Stderr:   r.stderr,
			OnListen: func(a net.Addr) { listening <- a },
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	select {
	case r.addr = <-listening:
	case code := <-r.code:
		r.code <- code
		t.Fatalf("Main exited with %d before serving:\n%s", code, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("Main did not serve within 10s:\n%s", r.stderr)
	}
	return r
}

// stop cancels Main's context and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	if r.exited {
		return r.exitCode
	}
	select {
	case r.exitCode = <-r.code:
		r.exited = true
	case <-time.After(15 * time.Second):
		t.Fatalf("Main did not return within 15s of cancellation:\n%s", r.stderr)
	}
	return r.exitCode
}

// runMain runs Main to completion.
func runMain(args []string, environ ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), Env{Args: args, Environ: environ, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestMainServesOnPortZeroAndStopsCleanly(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := startMain(t, "--listen", "127.0.0.1:0", "--redis-addr", srv.Addr(), "--root-path", "/ops/", "--read-only")
	url := "http://" + r.addr.String() + "/ops/"

	resp, body := do(t, noRedirect(), http.MethodGet, "http://"+r.addr.String()+"/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, noRedirect(), http.MethodGet, url, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `window.FLAG_READ_ONLY="true"`) {
		t.Fatalf("GET %s: %d, read-only flag missing", url, resp.StatusCode)
	}

	if code := r.stop(t); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, r.stderr)
	}
	out := r.stderr.String()
	first, _, _ := strings.Cut(out, "\n")
	if want := "monitor: serving " + url + " (Redis " + srv.Addr() + ")"; first != want {
		t.Errorf("first stderr line %q, want %q", first, want)
	}
	recs := logRecords(t, out)
	serving := findRecord(recs, "monitor serving")
	if serving == nil || serving["url"] != url || serving["redis"] != srv.Addr() || serving["read_only"] != true || serving["level"] != "INFO" {
		t.Errorf("serving log record %v", serving)
	}
	stopping := findRecord(recs, "monitor shutting down")
	if stopping == nil || stopping["reason"] != "context canceled" || stopping["timeout"] != "10s" {
		t.Errorf("shutdown log record %v", stopping)
	}
	if findRecord(recs, "monitor stopped") == nil {
		t.Errorf("no 'monitor stopped' record in\n%s", out)
	}
	if strings.Contains(out, "warning") {
		t.Errorf("unexpected warning with Redis up:\n%s", out)
	}
}

func TestMainStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t)
	r := startMain(t, "--listen", "localhost:0", "--redis-addr", addr)
	base := "http://" + r.addr.String()

	resp, body := do(t, noRedirect(), http.MethodGet, base+"/readyz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || body != "redis unreachable\n" {
		t.Errorf("/readyz: %d %q, want 503", resp.StatusCode, body)
	}
	// The UI page itself does not need Redis; its API reports the error.
	resp, _ = do(t, noRedirect(), http.MethodGet, base+"/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: %d, want 200", resp.StatusCode)
	}
	resp, body = do(t, noRedirect(), http.MethodGet, base+"/api/queues", nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "connection refused") {
		t.Errorf("GET /api/queues: %d %q, want 500 naming the refused connection", resp.StatusCode, body)
	}

	if code := r.stop(t); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, r.stderr)
	}
	// The warning is one plain line among the JSON log records (the
	// Insight runner may log its own failing tick before it).
	var warning string
	for line := range strings.SplitSeq(r.stderr.String(), "\n") {
		if strings.HasPrefix(line, "monitor: warning: ") {
			warning = line
			break
		}
	}
	wantPrefix := "monitor: warning: Redis " + addr + " does not answer (monitor: redis ping: dial tcp " + addr + ": connect: connection refused"
	// On a loaded machine go-redis's dial retries can outlast the 2 s ping
	// deadline (there is no flag for it), and the warning names the
	// deadline instead: the warning is what this test is about.
	if strings.Contains(warning, "redis ping: context deadline exceeded") {
		wantPrefix = "monitor: warning: Redis " + addr + " does not answer (monitor: redis ping: context deadline exceeded"
	}
	if !strings.HasPrefix(warning, wantPrefix) || !strings.HasSuffix(warning, "); the UI shows errors until it does") {
		t.Errorf("warning line %q, want prefix %q; stderr:\n%s", warning, wantPrefix, r.stderr)
	}
	rec := findRecord(r.stderr.Records(t, ""), "redis unreachable at start; serving anyway")
	if rec == nil || rec["level"] != "WARN" || rec["redis"] != addr {
		t.Errorf("warning record %v", rec)
	}
}

func TestMainRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	const line = "monitor: refusing to listen on %s without authentication: anyone who can reach it could see and change every queue; add users (monitor.auth.users, hash passwords with 'monitor hash-password') or tokens (monitor.auth.tokens), or listen on loopback (--listen %s)\n"
	for _, tc := range []struct {
		args    []string
		environ []string
		addr    string
		suggest string
	}{
		{args: []string{"--listen", "0.0.0.0:8080"}, addr: "0.0.0.0:8080", suggest: "127.0.0.1:8080"},
		{args: []string{"--listen", ":9000"}, addr: ":9000", suggest: "127.0.0.1:9000"},
		{args: []string{"--listen", "[::]:8080"}, addr: "[::]:8080", suggest: "127.0.0.1:8080"},
		{args: []string{"--listen", "monitor.example.com:80"}, addr: "monitor.example.com:80", suggest: "127.0.0.1:80"},
		{environ: []string{"TUSKQ_MONITOR_LISTEN=192.168.1.20:8080"}, addr: "192.168.1.20:8080", suggest: "127.0.0.1:8080"},
		{args: []string{"--set", "monitor.listen=10.1.2.3:7000"}, addr: "10.1.2.3:7000", suggest: "127.0.0.1:7000"},
	} {
		code, stdout, stderr := runMain(tc.args, tc.environ...)
		want := strings.ReplaceAll(strings.Replace(line, "%s", tc.addr, 1), "%s", tc.suggest)
		if code != 2 || stdout != "" || stderr != want {
			t.Errorf("%v %v: exit %d, stderr %q, want 2 and %q", tc.args, tc.environ, code, stderr, want)
		}
	}
}

func TestMainUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "monitor: unknown flag: --bogus\nRun 'monitor --help' for usage.\n"},
		{[]string{"serve"}, "monitor: unexpected argument \"serve\"; the monitor takes only flags and the config and hash-password subcommands\nRun 'monitor --help' for usage.\n"},
		{[]string{"--listen"}, "monitor: flag needs an argument: --listen\nRun 'monitor --help' for usage.\n"},
		{[]string{"--listen", "8080"}, "config: --listen: monitor.listen: \"8080\" is not valid; expected host:port such as 127.0.0.1:8080, or empty\n"},
		{[]string{"--listen", ""}, "monitor: invalid options: monitor.listen is empty; set a loopback address such as --listen 127.0.0.1:8080\n"},
		{[]string{"--root-path", "ops"}, "config: --root-path: monitor.root_path: \"ops\" is not valid; expected a URL path starting with /\n"},
		{[]string{"--root-path", "/a b/"}, "monitor: invalid options: monitor.root_path \"/a b/\" is not valid: ' ' is not allowed; use letters, digits, '-', '_', '.' and '~'; expected a URL path such as /monitor/\n"},
	} {
		code, stdout, stderr := runMain(tc.args)
		if code != 2 || stdout != "" || stderr != tc.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q\nwant 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestMainHelpAndConfig(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runMain([]string{"--help"})
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage:\n  monitor [flags]") ||
		!strings.Contains(stdout, "--listen host:port") || !strings.Contains(stdout, "--read-only") {
		t.Errorf("--help: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	code, stdout, stderr = runMain([]string{"config", "print", "--set", "monitor.root_path=/ops/"})
	if code != 0 || stderr != "" || !strings.Contains(stdout, "monitor:\n") ||
		!strings.Contains(stdout, "root_path: /ops/") || !strings.Contains(stdout, "listen: 127.0.0.1:8080") {
		t.Errorf("config print: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	code, _, _ = runMain([]string{"config"})
	if code != 2 {
		t.Errorf("config without subcommand: exit %d, want 2", code)
	}
}

func TestMainCannotListen(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	code, _, stderr := runMain([]string{"--listen", addr, "--redis-addr", "127.0.0.1:1"})
	want := "monitor: cannot listen on " + addr + ": listen tcp " + addr + ": bind: address already in use\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

func TestRunShutdownWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	block := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(entered)
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
	var logs testutil.LogBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Redis:      redisAt(srv.Addr()),
			Listen:     "127.0.0.1:0",
			Middleware: []func(http.Handler) http.Handler{block},
			Logger:     logs.Logger(t, nil),
			OnListen:   func(a net.Addr) { listening <- a },
		})
	}()
	addr := (<-listening).String()

	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-entered
	cancel()
	// Once shutting down, the listener is closed: new connections fail.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with a request in flight", err)
	default:
	}
	close(release)
	if code := <-slow; code != http.StatusOK {
		t.Errorf("request in flight: status %d, want 200 (the UI index)", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if findRecord(logs.Records(t, ""), "monitor stopped") == nil {
		t.Errorf("no 'monitor stopped' record in\n%s", logs.String())
	}
}

func TestRunShutdownTimeoutCutsRequests(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	block := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			close(entered)
			<-release
		})
	}
	var logs testutil.LogBuffer
	ctx, cancel := context.WithCancel(t.Context())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Redis:           redisAt(srv.Addr()),
			Listen:          "127.0.0.1:0",
			Middleware:      []func(http.Handler) http.Handler{block},
			Logger:          logs.Logger(t, nil),
			ShutdownTimeout: 50 * time.Millisecond,
			OnListen:        func(a net.Addr) { listening <- a },
		})
	}()
	addr := (<-listening).String()
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after the shutdown timeout: %v, want nil", err)
	}
	if err := <-got; err == nil {
		t.Errorf("request cut off at the shutdown timeout succeeded")
	}
	rec := findRecord(logs.Records(t, ""), "requests still running at the shutdown timeout were cut off")
	if rec == nil || rec["error"] != context.DeadlineExceeded.Error() {
		t.Errorf("cut-off record %v", rec)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	err := Run(t.Context(), Options{Listen: "0.0.0.0:0"})
	if !errors.Is(err, ErrInsecureListen) {
		t.Errorf("Run on 0.0.0.0: %v, want ErrInsecureListen", err)
	}
	err = Run(t.Context(), Options{Listen: "nonsense"})
	want := `monitor: invalid options: monitor.listen "nonsense" is not valid; expected host:port such as 127.0.0.1:8080`
	if !errors.Is(err, ErrBadOptions) || err.Error() != want {
		t.Errorf("Run on nonsense: %v, want %s", err, want)
	}
}

func TestCheckListen(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080", "localhost:0", "LocalHost:80", "[::ffff:127.0.0.1]:80"} {
		if err := checkListen(ok, false); err != nil {
			t.Errorf("checkListen(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:8080", ":8080", "[::]:80", "10.0.0.1:80", "localhost.example.com:80", "[fe80::1%eth0]:80"} {
		if err := checkListen(bad, false); !errors.Is(err, ErrInsecureListen) {
			t.Errorf("checkListen(%q) = %v, want ErrInsecureListen", bad, err)
		}
		if err := checkListen(bad, true); err != nil {
			t.Errorf("checkListen(%q) with authentication = %v, want nil", bad, err)
		}
	}
}
