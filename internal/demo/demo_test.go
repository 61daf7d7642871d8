package demo

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/spawn"
)

// TestRun runs the whole demo for a few seconds on a throwaway redis-server
// and on the embedded Redis, and checks that tasks of every kind were
// processed, the webhook was called with a traceparent, and every process
// the demo started was stopped gracefully. About 10 s; skipped with -short.
func TestRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts Redis, two workers and the monitor for several seconds; skipped with -short")
	}
	binDir := t.TempDir()
	if err := buildBinaries(t.Context(), "../..", binDir); err != nil {
		t.Fatal(err)
	}
	for _, choice := range []string{RedisServer, RedisEmbedded} {
		t.Run(choice, func(t *testing.T) {
			t.Parallel()
			if choice == RedisServer {
				if _, err := exec.LookPath("redis-server"); err != nil {
					t.Skip("redis-server is not installed")
				}
			}
			stateDir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			sum, err := Run(ctx, Options{
				// Long enough for every task kind to be enqueued and
				// processed at least once on a loaded machine (-race,
				// 2 cores, parallel tests); 4 s was not.
				Duration:      12 * time.Second,
				BinDir:        binDir,
				StateDir:      stateDir,
				Redis:         choice,
				MonitorListen: "127.0.0.1:0",
				Interval:      200 * time.Millisecond,
				StatusEvery:   time.Second,
				Environ:       []string{"PATH=" + os.Getenv("PATH")},
				Out:           &out,
			})
			if err != nil {
				t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
			}
			checkSummary(t, sum, choice)
			checkStopped(t, out.String(), stateDir)
		})
	}
}

func checkSummary(t *testing.T, sum *Summary, choice string) {
	t.Helper()
	wantKind := map[string]string{RedisServer: KindServer, RedisEmbedded: KindEmbedded}[choice]
	if sum.RedisKind != wantKind {
		t.Errorf("RedisKind = %q, want %q", sum.RedisKind, wantKind)
	}
	for _, typ := range []string{"demo:echo", "demo:sleep", "demo:fail", "http:request"} {
		if sum.Enqueued[typ] == 0 {
			t.Errorf("no %s task enqueued; enqueued: %v", typ, sum.Enqueued)
		}
	}
	if sum.EnqueueErrors != 0 {
		t.Errorf("%d enqueue errors, the last: %v", sum.EnqueueErrors, sum.LastEnqueueError)
	}
	if len(sum.Queues) != 3 {
		t.Fatalf("got %d queues, want critical, default and low", len(sum.Queues))
	}
	for i, want := range demoQueues {
		q := sum.Queues[i]
		if q.Queue != want {
			t.Errorf("queue %d = %q, want %q", i, q.Queue, want)
		}
		if q.Succeeded() <= 0 {
			t.Errorf("queue %s: no task succeeded: %+v", q.Queue, q)
		}
	}
	// skip_retry tasks go to low and are archived on their first attempt.
	if sum.Queues[2].Archived == 0 {
		t.Errorf("low: nothing archived, want the demo:fail skip_retry tasks: %+v", sum.Queues[2])
	}
	total := sum.total()
	if total.Failed == 0 {
		t.Errorf("no attempt failed, want the demo:fail ones: %+v", total)
	}
	if sum.Webhook.Calls == 0 || sum.Webhook.ByStatus[http.StatusOK] == 0 {
		t.Errorf("webhook: %s, want calls answered 200", sum.Webhook)
	}
	if sum.Webhook.Traced != sum.Webhook.Calls {
		t.Errorf("webhook: %d of %d calls carried a traceparent, want all", sum.Webhook.Traced, sum.Webhook.Calls)
	}
	var b strings.Builder
	if err := sum.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"summary after ", "  critical ", "     total ", "webhook endpoint: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// checkStopped checks that the workers and the monitor logged a graceful
// stop and no longer answer.
func checkStopped(t *testing.T, out, stateDir string) {
	t.Helper()
	for _, f := range []struct{ name, line string }{
		{"worker-1.log", `"msg":"worker stopped"`},
		{"worker-2.log", `"msg":"worker stopped"`},
		{"monitor.log", `"msg":"monitor stopped"`},
	} {
		b, err := os.ReadFile(filepath.Join(stateDir, "logs", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), f.line) {
			t.Errorf("%s lacks %s; it ends:\n%s", f.name, f.line, spawn.TailFile(filepath.Join(stateDir, "logs", f.name), 5))
		}
	}
	urls := regexp.MustCompile(`http://127\.0\.0\.1:\d+/(metrics)?`).FindAllString(out, -1)
	// Two workers' metrics, the monitor, the webhook endpoint.
	if len(urls) < 4 {
		t.Fatalf("found %d URLs in the output, want at least 4:\n%s", len(urls), out)
	}
	hc := &http.Client{Timeout: time.Second}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			t.Errorf("%s still answers (%s) after Run returned", u, resp.Status)
		}
	}
}

// TestMainUsage checks the exact messages and exit code 2 of bad usage.
func TestMainUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "-1s"}, "demo: --duration -1s is negative; use 0 (until Ctrl-C) or a positive duration such as 20s\n"},
		{[]string{"--workers", "0"}, "demo: --workers 0 is out of range; use 1 to 16\n"},
		{[]string{"--redis", "docker"}, "demo: --redis \"docker\" is not valid; use auto, server or embedded\n"},
		{[]string{"extra"}, "demo: unexpected argument \"extra\"; the demo takes only flags\n"},
		{[]string{"--duration", "soon"}, "demo: invalid argument \"soon\" for \"--duration\" flag: time: invalid duration \"soon\"\nRun 'demo --help' for usage.\n"},
		{[]string{"--nope"}, "demo: unknown flag: --nope\nRun 'demo --help' for usage.\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), Env{Args: tc.args, Stdout: &stdout, Stderr: &stderr})
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if stderr.String() != tc.want {
			t.Errorf("%v: stderr\n%q\nwant\n%q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: stdout %q, want nothing", tc.args, stdout.String())
		}
	}
}

// TestMainHelp checks that --help prints the usage and exits 0.
func TestMainHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := Main(t.Context(), Env{Args: []string{"--help"}, Stdout: &stdout, Stderr: &stderr}); code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", code, stderr.String())
	}
	for _, want := range []string{"--duration", "--bin-dir", "--redis", "TUSKQ_REDIS_ADDR"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestWebhookStatus checks the fixed cycle of answers.
func TestWebhookStatus(t *testing.T) {
	t.Parallel()
	got := make([]int, 10)
	for i := range got {
		got[i] = webhookStatus(i)
	}
	want := []int{200, 200, 200, 503, 200, 200, 404, 200, 503, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	s := WebhookStats{Calls: 3, ByStatus: map[int]int{503: 1, 200: 2}, Traced: 3}
	if got, want := s.String(), "3 calls (200: 2, 503: 1), 3 with a traceparent"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestMergeEnv checks that set replaces inherited keys and is sorted.
func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([]string{"PATH=/bin", "TUSKQ_LOG_FORMAT=text", "HOME=/h"},
		map[string]string{"TUSKQ_LOG_FORMAT": "json", "TUSKQ_A": "1"})
	want := []string{"PATH=/bin", "HOME=/h", "TUSKQ_A=1", "TUSKQ_LOG_FORMAT=json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mergeEnv = %v, want %v", got, want)
	}
}
