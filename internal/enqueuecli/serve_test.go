package enqueuecli_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/enqueuecli"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a polling reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var servingLine = regexp.MustCompile(`enqueue serve: serving (http://127\.0\.0\.1:\d+)/v1/ \(Redis ([^;]+); no tokens: loopback only\)\n`)

// TestServe runs "enqueue serve" in-process, enqueues a task through it and
// stops it with the context, as SIGTERM does.
func TestServe(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- enqueuecli.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--redis-addr", addr, "--log-format", "json"},
			enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Environ: []string{}})
	}()
	var m []string
	deadline := time.Now().Add(20 * time.Second)
	for m = servingLine.FindStringSubmatch(stderr.String()); m == nil; m = servingLine.FindStringSubmatch(stderr.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no serving line:\n%s", stderr)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	if m[2] != addr {
		t.Errorf("serving line names Redis %q, want %q", m[2], addr)
	}
	resp, err := http.Post(m[1]+"/v1/tasks", "application/json", strings.NewReader(`{"type":"email:send","payload":{"to":"a@example.com"}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"type":"email:send","queue":"default","state":"pending"`) {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if q, err := insp.GetQueueInfo("default"); err != nil || q.Pending != 1 {
		t.Errorf("queue: %+v %v", q, err)
	}
	cancel()
	select {
	case c := <-code:
		if c != enqueuecli.ExitOK {
			t.Errorf("exit %d:\n%s", c, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, want := range []string{`"msg":"http request","method":"POST","path":"/v1/tasks","status":201`, `"msg":"api shutting down"`, `"msg":"api stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, stderr)
		}
	}
}

// TestServeBadUsage checks the exit code and message of each refusal; none
// contacts Redis.
func TestServeBadUsage(t *testing.T) {
	t.Parallel()
	const hint = "run 'enqueue serve --help' for usage\n"
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"non-loopback without tokens", []string{"serve", "--listen", "0.0.0.0:8090"}, nil, 2,
			"enqueue serve: refusing to listen on 0.0.0.0:8090 without authentication: anyone who can reach it could enqueue and delete tasks; add api.tokens, or listen on loopback (--listen 127.0.0.1:8090)\n"},
		{"unknown flag", []string{"serve", "--batch"}, nil, 2, "enqueue serve: unknown flag: --batch\n" + hint},
		{"argument", []string{"serve", "now"}, nil, 2, "enqueue serve: unexpected argument \"now\"; serve takes only flags\n" + hint},
		{"bad config", []string{"serve", "--set", "api.max_batch=0"}, nil, 2,
			"config: --set: api.max_batch: 0 is not valid; expected at least 1\n"},
		{"short token", []string{"serve"}, []string{`TUSKQ_API_TOKENS=[{"name":"ci","token":"short"}]`}, 2,
			"invalid API options: api.tokens[0].token (name \"ci\") has 5 characters; use at least 16 random ones, such as the output of openssl rand -hex 24\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := tt.env
			if env == nil {
				env = []string{}
			}
			code := enqueuecli.Run(t.Context(), tt.args, enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Environ: env})
			if code != tt.code || stderr.String() != tt.want {
				t.Errorf("exit %d, stderr %q\nwant %d, %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
	var stdout bytes.Buffer
	code := enqueuecli.Run(t.Context(), []string{"serve", "--help"}, enqueuecli.Env{Stdout: &stdout, Stderr: io.Discard, Environ: []string{}})
	if code != 0 || !strings.HasPrefix(stdout.String(), "Usage:\n  enqueue serve [flags]") || !strings.Contains(stdout.String(), "--listen host:port") {
		t.Errorf("--help: %d\n%s", code, stdout.String())
	}
}
