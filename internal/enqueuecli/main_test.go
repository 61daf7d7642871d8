package enqueuecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	redislog "github.com/redis/go-redis/v9/logging"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/redistest"
)

// binary is the path of cmd/enqueue built by TestMain.
var binary string

func TestMain(m *testing.M) {
	// go-redis logs failed dials through a global logger; the binary turns
	// it off in main, and so do the in-process tests.
	redislog.Disable()
	dir, err := os.MkdirTemp("", "enqueue-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "enqueue")
	build := exec.Command("go", "build", "-o", binary, "github.com/tuskq/tuskq/cmd/enqueue")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cmd/enqueue:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is the outcome of one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command in-process with stdin and args. The environment is
// empty, so no TUSKQ_ variable of the machine leaks in.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := enqueuecli.Run(ctx, args, enqueuecli.Env{
		Stdin:   strings.NewReader(stdin),
		Stdout:  &stdout,
		Stderr:  &stderr,
		Environ: []string{},
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runOK runs the command and fails the test unless it exits 0.
func runOK(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("enqueue %q: exit %d; stderr:\n%s", args, r.code, r.stderr)
	}
	return r
}

// lines decodes the JSON lines of stdout.
func lines(t *testing.T, stdout string) []enqueuecli.TaskLine {
	t.Helper()
	var out []enqueuecli.TaskLine
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	for dec.More() {
		var tl enqueuecli.TaskLine
		if err := dec.Decode(&tl); err != nil {
			t.Fatalf("stdout is not JSON lines: %v\n%s", err, stdout)
		}
		out = append(out, tl)
	}
	if strings.Count(stdout, "\n") != len(out) {
		t.Fatalf("stdout has %d lines for %d objects:\n%s", strings.Count(stdout, "\n"), len(out), stdout)
	}
	return out
}

// one decodes the single JSON line of stdout.
func one(t *testing.T, stdout string) enqueuecli.TaskLine {
	t.Helper()
	tls := lines(t, stdout)
	if len(tls) != 1 {
		t.Fatalf("stdout has %d task lines, want 1:\n%s", len(tls), stdout)
	}
	return tls[0]
}

// newRedis starts a redis-server for the test and returns its address and
// an inspector on it.
func newRedis(t *testing.T) (string, *asynq.Inspector) {
	t.Helper()
	srv := redistest.Start(t)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr()})
	t.Cleanup(func() { insp.Close() })
	return srv.Addr(), insp
}

// taskInfo reads a stored task.
func taskInfo(t *testing.T, insp *asynq.Inspector, queue, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := insp.GetTaskInfo(queue, id)
	if err != nil {
		t.Fatalf("get task %s/%s: %v", queue, id, err)
	}
	return info
}
