package enqueuecli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

var (
	uuidRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	traceIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func TestPayloadForms(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	file := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(file, []byte("\x00binary\nnot json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"literal", "", []string{"email:send", `{"to":"a@example.com"}`}, `{"to":"a@example.com"}`},
		{"literal not JSON", "", []string{"email:send", "hello world"}, "hello world"},
		{"file", "", []string{"email:send", "@" + file}, "\x00binary\nnot json"},
		{"stdin", "from\nstdin", []string{"email:send", "-"}, "from\nstdin"},
		{"none", "ignored", []string{"email:send"}, ""},
	}
	for _, tt := range tests {
		r := runOK(t, tt.stdin, append([]string{"--redis-addr", addr}, tt.args...)...)
		tl := one(t, r.stdout)
		if r.stderr != "" {
			t.Errorf("%s: stderr %q, want none", tt.name, r.stderr)
		}
		if !uuidRE.MatchString(tl.ID) || tl.Type != "email:send" || tl.Queue != "default" ||
			tl.State != "pending" || !traceIDRE.MatchString(tl.TraceID) || tl.Line != 0 {
			t.Errorf("%s: line %+v", tt.name, tl)
		}
		at, err := time.Parse(time.RFC3339, tl.ProcessAt)
		if err != nil || time.Since(at) > time.Minute || time.Until(at) > time.Second {
			t.Errorf("%s: process_at %q is not about now (%v)", tt.name, tl.ProcessAt, err)
		}
		info := taskInfo(t, insp, "default", tl.ID)
		if string(info.Payload) != tt.want {
			t.Errorf("%s: stored payload %q, want %q", tt.name, info.Payload, tt.want)
		}
		if got := tasks.TraceIDFromHeaders(info.Headers); got != tl.TraceID {
			t.Errorf("%s: stored trace ID %q, printed %q", tt.name, got, tl.TraceID)
		}
	}
}

// TestOptionsReachTheTask checks that every option flag is stored with the
// task.
func TestOptionsReachTheTask(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	deadline := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := runOK(t, "", "--redis-addr", addr,
		"--queue", "critical", "--max-retry", "3", "--timeout", "90s",
		"--deadline", deadline.Format(time.RFC3339), "--unique", "1h", "--id", "order-42",
		"--retention", "2h", "--header", "tenant=acme", "--header", "lang=en=GB",
		"--traceparent", traceparent, "report:build", `{"n":1}`)
	tl := one(t, r.stdout)
	if tl.ID != "order-42" || tl.Queue != "critical" || tl.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || tl.State != "pending" {
		t.Fatalf("printed %+v", tl)
	}
	info := taskInfo(t, insp, "critical", "order-42")
	if info.MaxRetry != 3 || info.Timeout != 90*time.Second || !info.Deadline.Equal(deadline) || info.Retention != 2*time.Hour {
		t.Errorf("stored max retry %d, timeout %s, deadline %s, retention %s; want 3, 1m30s, %s, 2h0m0s",
			info.MaxRetry, info.Timeout, info.Deadline, info.Retention, deadline)
	}
	if info.Headers["tenant"] != "acme" || info.Headers["lang"] != "en=GB" {
		t.Errorf("stored headers %v", info.Headers)
	}
	if got := tasks.TraceIDFromHeaders(info.Headers); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("stored trace ID %q, want the one of --traceparent", got)
	}

	// --unique: the same type, queue and payload again is a duplicate.
	r = run(t, "", "--redis-addr", addr, "--queue", "critical", "--unique", "1h", "report:build", `{"n":1}`)
	wantErr := "enqueue: not enqueued: duplicate: tasks: enqueue \"report:build\": an equal task (same type, queue \"critical\" and payload) holds the uniqueness lock: task already exists (--unique, --unique-key)\n"
	if r.code != 1 || r.stderr != wantErr || r.stdout != "" {
		t.Errorf("duplicate: exit %d, stderr %q\nwant exit 1, stderr %q", r.code, r.stderr, wantErr)
	}
	// --id: an ID in use is a conflict.
	r = run(t, "", "--redis-addr", addr, "--queue", "critical", "--id", "order-42", "report:build", `{"n":2}`)
	wantErr = "enqueue: not enqueued: the task ID is already used by a task in that queue (tasks: enqueue \"report:build\": task ID conflicts with another task)\n"
	if r.code != 1 || r.stderr != wantErr || r.stdout != "" {
		t.Errorf("ID conflict: exit %d, stderr %q\nwant exit 1, stderr %q", r.code, r.stderr, wantErr)
	}
}

func TestScheduled(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	before := time.Now()
	tl := one(t, runOK(t, "", "--redis-addr", addr, "--delay", "10m", "x:y").stdout)
	at, err := time.Parse(time.RFC3339, tl.ProcessAt)
	if tl.State != "scheduled" || err != nil || at.Before(before.Add(10*time.Minute).Truncate(time.Second)) || at.After(time.Now().Add(10*time.Minute)) {
		t.Errorf("--delay 10m: state %q, process_at %q; want scheduled in 10m", tl.State, tl.ProcessAt)
	}
	if info := taskInfo(t, insp, "default", tl.ID); info.State != asynq.TaskStateScheduled {
		t.Errorf("stored state %s, want scheduled", info.State)
	}

	when := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	tl = one(t, runOK(t, "", "--redis-addr", addr, "--at", when.Format(time.RFC3339), "x:y").stdout)
	if tl.State != "scheduled" || tl.ProcessAt != when.Format(time.RFC3339) {
		t.Errorf("--at: state %q, process_at %q; want scheduled at %s", tl.State, tl.ProcessAt, when.Format(time.RFC3339))
	}
	if info := taskInfo(t, insp, "default", tl.ID); !info.NextProcessAt.Equal(when) {
		t.Errorf("stored process time %s, want %s", info.NextProcessAt, when)
	}
}

// TestRoutes checks that routes from the configuration apply, and that a
// flag wins over them.
func TestRoutes(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	cfg := filepath.Join(t.TempDir(), "tuskq.yaml")
	err := os.WriteFile(cfg, []byte("redis:\n  addr: "+addr+"\nroutes:\n  \"email:*\":\n    queue: low\n    max_retry: 2\n  email:urgent:\n    queue: critical\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args      []string
		queue     string
		maxRetry  int
		timeoutIn time.Duration
	}{
		{[]string{"email:send"}, "low", 2, 30 * time.Minute},
		{[]string{"email:urgent"}, "critical", 25, 30 * time.Minute},
		{[]string{"--queue", "default", "--max-retry", "0", "email:send"}, "default", 0, 30 * time.Minute},
		{[]string{"--set", "routes.sms:*.timeout=20s", "sms:send"}, "default", 25, 20 * time.Second},
	} {
		tl := one(t, runOK(t, "", append([]string{"--config", cfg}, tt.args...)...).stdout)
		info := taskInfo(t, insp, tl.Queue, tl.ID)
		if tl.Queue != tt.queue || info.MaxRetry != tt.maxRetry || info.Timeout != tt.timeoutIn {
			t.Errorf("%q: queue %s, max retry %d, timeout %s; want %s, %d, %s",
				tt.args, tl.Queue, info.MaxRetry, info.Timeout, tt.queue, tt.maxRetry, tt.timeoutIn)
		}
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	srv := newStoppedRedis(t)
	r := run(t, "", "--redis-addr", srv, "x:y", "{}")
	want := "enqueue: cannot reach Redis at " + srv + ": dial tcp " + srv + ": connect: connection refused\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d, stderr %q\nwant exit 1, stderr %q", r.code, r.stderr, want)
	}
	r = run(t, `{"type":"x:y"}`, "--redis-addr", srv, "--batch")
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("--batch: exit %d, stderr %q\nwant exit 1, stderr %q", r.code, r.stderr, want)
	}
}

// newStoppedRedis returns an address where nothing listens for the whole
// test (a held port that no parallel test's server can take).
func newStoppedRedis(t *testing.T) string {
	t.Helper()
	return redistest.UnreachableAddr(t)
}

// TestTypeNamedConfig checks that "--" lets a task type be "config".
func TestTypeNamedConfig(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	tl := one(t, runOK(t, "", "--redis-addr", addr, "--", "config", "print").stdout)
	if info := taskInfo(t, insp, "default", tl.ID); info.Type != "config" || string(info.Payload) != "print" {
		t.Errorf("stored %s %q, want config \"print\"", info.Type, info.Payload)
	}
}
