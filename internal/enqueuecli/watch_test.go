package enqueuecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/testutil"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watch starts "enqueue watch" with args and returns a function waiting
// for its exit code and output. It returns once the watcher is
// registered as a listener.
func watch(t *testing.T, addr string, args ...string) func() (int, string, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	// A previous watcher's registration must not count: start clean.
	rdb.Del(t.Context(), events.PresenceKey)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	done := make(chan int, 1)
	go func() {
		done <- enqueuecli.Run(ctx, append([]string{"watch", "--redis-addr", addr}, args...), enqueuecli.Env{
			Stdout: &stdout, Stderr: &stderr, Environ: []string{},
		})
	}()
	t.Cleanup(cancel)
	testutil.Poll(t, 30*time.Second, "the watcher's registration", func() bool {
		return rdb.Exists(t.Context(), events.PresenceKey).Val() == 1
	})
	return func() (int, string, string) {
		select {
		case code := <-done:
			cancel()
			return code, stdout.String(), stderr.String()
		case <-time.After(time.Minute):
			t.Fatalf("watch did not stop; stdout:\n%s", stdout.String())
			return 0, "", ""
		}
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	all := watch(t, addr, "--count", "3")
	low := watch(t, addr, "--count", "1", "--queue", "low", "--type", "b:x", "--format", "text")
	runOK(t, "", "--redis-addr", addr, "--id", "t1", "a:x", "{}")
	runOK(t, "", "--redis-addr", addr, "--id", "t2", "--queue", "low", "a:x", "{}")
	runOK(t, "", "--redis-addr", addr, "--id", "t3", "--queue", "low", "b:x", "{}")

	code, out, errOut := all()
	if code != 0 {
		t.Fatalf("watch: exit %d: %s", code, errOut)
	}
	var got []enqueuecli.WatchLine
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	for dec.More() {
		var l enqueuecli.WatchLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("not JSON lines: %v\n%s", err, out)
		}
		got = append(got, l)
	}
	if len(got) != 3 || got[0].TaskID != "t1" || got[0].Kind != events.KindEnqueued || got[0].TraceID == "" || got[0].Cursor == "" {
		t.Fatalf("watch printed %+v", got)
	}

	code, out, errOut = low()
	if code != 0 || !strings.Contains(out, "task.enqueued") || !strings.Contains(out, " low b:x t3 ") || strings.Count(out, "\n") != 1 {
		t.Errorf("watch --queue low --type b:x --format text: exit %d, %q %s", code, out, errOut)
	}

	// --from continues after a line's cursor.
	from := watch(t, addr, "--count", "2", "--from", got[0].Cursor)
	code, out, _ = from()
	if code != 0 || strings.Contains(out, `"t1"`) || !strings.Contains(out, `"t2"`) || !strings.Contains(out, `"t3"`) {
		t.Errorf("watch --from: exit %d, %s", code, out)
	}
}

func TestWatchBadInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"watch", "extra"},
		{"watch", "--format", "xml"},
		{"watch", "--count", "-1"},
		{"watch", "--from", "yesterday"},
		{"watch", "--queue", ""},
	} {
		if r := run(t, "", args...); r.code != 2 || !strings.Contains(r.stderr, "enqueue watch:") {
			t.Errorf("%q: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

// TestWaitShowsProgress runs a task whose processor reports progress and
// checks that --wait prints it on standard error as plain lines (standard
// error is no terminal here).
func TestWaitShowsProgress(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	release := make(chan struct{})
	reg := tasks.NewRegistry()
	reg.MustRegister("slow:report", tasks.ProcessorFunc(func(ctx context.Context, _ *asynq.Task) error {
		tasks.Progress(ctx, 40, "halfway there")
		<-release
		tasks.Progress(ctx, 100, "done")
		return nil
	}))
	cfg := config.Default()
	cfg.Redis.Addr = addr
	cfg.Worker.Listen = ""
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- enqueuecli.Run(t.Context(), []string{"--redis-addr", addr, "--wait=1m", "slow:report", "{}"}, enqueuecli.Env{
			Stdout: &stdout, Stderr: &stderr, Environ: []string{},
		})
	}()
	testutil.Poll(t, 30*time.Second, "the first progress line", func() bool {
		return strings.Contains(stderr.String(), "progress 40% halfway there\n")
	})
	close(release)
	select {
	case code := <-exit:
		if code != 0 || one(t, stdout.String()).State != "completed" {
			t.Fatalf("exit %d; stdout %s; stderr %s", code, stdout.String(), stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("--wait did not end")
	}
	if n := strings.Count(stderr.String(), "progress 40%"); n != 1 {
		t.Errorf("the same report printed %d times:\n%s", n, stderr.String())
	}
}
