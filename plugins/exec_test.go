package plugins_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// TestExecShellExample runs the shell example through a real worker.
func TestExecShellExample(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	writePlugin(t, dir, "shout", readExample(t, "shout/plugin.yaml"), map[string]string{"shout.sh": readExample(t, "shout/shout.sh")})
	e := newEnv(t, dir, nil)

	info := e.enqueue(t, "text:shout", "hello, world", nil)
	ti := e.wait(t, info)
	if ti.State != asynq.TaskStateCompleted || string(ti.Result) != "HELLO, WORLD" {
		t.Fatalf("state %s, result %q, error %q; want completed with HELLO, WORLD", ti.State, ti.Result, ti.LastErr)
	}
	var line map[string]any
	for _, r := range e.logs.Records(t, "plugin log") {
		if r["task_id"] == info.ID {
			line = r
		}
	}
	if line == nil || line["line"] != "shouting for task "+info.ID+" (attempt 1)" || line["trace_id"] != tasks.TraceIDFromHeaders(ti.Headers) {
		t.Fatalf("plugin log record %v", line)
	}
	// Exit 64: failed for good, with the stderr line in the error.
	ti = e.wait(t, e.enqueue(t, "text:shout", "", &tasks.EnqueueOptions{MaxRetry: intp(3)}))
	if ti.State != asynq.TaskStateArchived || ti.Retried != 0 || !strings.HasSuffix(ti.LastErr,
		" exited with status 64; last stderr: shout: empty payload; send the text to upper-case: skip retry for the task") {
		t.Fatalf("empty payload: state %s, retried %d, error %q", ti.State, ti.Retried, ti.LastErr)
	}
}

// TestExecRetryAndTimeout: exit 75 retries; a script running past its
// timeout is killed with everything it started.
func TestExecRetryAndTimeout(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	script := `#!/bin/sh
case "$TUSKQ_TASK_TYPE" in
x:tempfail)
	if [ "$TUSKQ_TASK_RETRY" = 0 ]; then echo "busy, try later" >&2; exit 75; fi
	echo "ok after $TUSKQ_TASK_RETRY retries; config $TUSKQ_PLUGIN_CONFIG; $TRACEPARENT" ;;
x:slow)
	sleep 1000 &
	echo $! > "$(cat)"
	wait ;;
esac
`
	manifest := "name: x\nversion: '1'\nruntime: exec\nentry: run.sh\ntask_types:\n  x:tempfail: {}\n  x:slow: {timeout: 2s}\nconfig: {a: 1}\n"
	writePlugin(t, dir, "x", manifest, map[string]string{"run.sh": script})
	e := newEnv(t, dir, nil)

	ti := e.wait(t, e.enqueue(t, "x:tempfail", "", &tasks.EnqueueOptions{MaxRetry: intp(3)}))
	want := "ok after 1 retries; config {\"a\":1}; " + ti.Headers[tasks.HeaderTraceparent] + "\n"
	if ti.State != asynq.TaskStateCompleted || ti.Retried != 1 || string(ti.Result) != want {
		t.Fatalf("exit 75: state %s, retried %d, result %q, error %q; want completed after 1 retry with %q", ti.State, ti.Retried, ti.Result, ti.LastErr, want)
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	ti = e.wait(t, e.enqueue(t, "x:slow", pidFile, &tasks.EnqueueOptions{MaxRetry: intp(0)}))
	if ti.State != asynq.TaskStateArchived || !strings.Contains(ti.LastErr, " ran past the task's deadline; killed its process group: context deadline exceeded") {
		t.Fatalf("timeout: state %s, error %q", ti.State, ti.LastErr)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The background sleep was in the script's process group: it is gone
	// (reaped by init, or a zombie until then).
	poll(t, "the script's child to die", func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ") || syscall.Kill(pid, 0) != nil
	})
}
