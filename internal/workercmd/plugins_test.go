package workercmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// TestMainRefusesInsecurePluginDir: a plugin directory others may write
// stops the worker at start-up with one line saying so.
func TestMainRefusesInsecurePluginDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), Env{
		Args:    []string{"--listen", ""},
		Environ: []string{"TUSKQ_PLUGINS_DIR=" + dir, "TUSKQ_REDIS_ADDR=127.0.0.1:1"},
		Stdout:  &stdout, Stderr: &stderr,
	})
	want := "worker: plugins: insecure plugin path: " + dir + " is writable by group and others (mode 0777), so they could change the code the worker runs; run chmod go-w " + dir + "\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), want)
	}
}

// TestMainServesPlugins: with plugins.dir set, the worker binary serves an
// exec plugin's task type.
func TestMainServesPlugins(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "plugins")
	pd := filepath.Join(dir, "shout")
	if err := os.MkdirAll(pd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"plugin.yaml": "plugin.yaml", "shout.sh": "shout.sh"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "plugins", "shout", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pd, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{
			Args: []string{"--listen", ""},
			Environ: []string{"TUSKQ_PLUGINS_DIR=" + dir, "TUSKQ_REDIS_ADDR=" + srv.Addr(),
				"TUSKQ_WORKER_TASK_CHECK_INTERVAL=10ms", "TUSKQ_WORKER_QUEUES=default=1"},
			Stdout: &bytes.Buffer{}, Stderr: stderr,
		})
	}()
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	opt, err := redisconn.ConnOpt(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	info, err := client.Enqueue(ctx, "text:shout", []byte("hi"), &tasks.EnqueueOptions{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	ti, err := client.Wait(wctx, info.Queue, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != asynq.TaskStateCompleted || string(ti.Result) != "HI" {
		t.Fatalf("state %s, result %q, error %q", ti.State, ti.Result, ti.LastErr)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), `"msg":"plugin loaded","plugin":"shout"`) {
		t.Fatalf("no plugin loaded line in %s", stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for the worker's goroutines.
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
