package plugins_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/resident"
	"github.com/tuskq/tuskq/tasks"
)

// TestProcessGoExample runs the Go example plugin through a real worker:
// the result, the config default, the schema check and the stderr line
// carrying the task's trace_id.
func TestProcessGoExample(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	manifest := strings.Replace(readExample(t, "greet/plugin.yaml"), "entry: greet", "entry: bin/greet", 1)
	writePlugin(t, dir, "greet", manifest, map[string]string{"bin/greet": "@" + bins.greet})
	e := newEnv(t, dir, nil)

	info := e.enqueue(t, "greet:hello", `{"name":"Ada"}`, nil)
	ti := e.wait(t, info)
	got := result(t, ti)
	if got["message"] != "Hello, Ada!" || got["version"] != "1.0.0" {
		t.Fatalf("result = %v; want message \"Hello, Ada!\" and version 1.0.0", got)
	}
	traceID := tasks.TraceIDFromHeaders(ti.Headers)
	var line map[string]any
	for _, r := range e.logs.Records(t, "plugin log") {
		if r["task_id"] == info.ID {
			line = r
		}
	}
	if line == nil {
		t.Fatalf("no plugin log record for task %s", info.ID)
	}
	if line["line"] != "greeting Ada for task "+info.ID || line["trace_id"] != traceID || line["plugin"] != "greet" ||
		line["version"] != "1.0.0" || line["task_type"] != "greet:hello" {
		t.Fatalf("plugin log record = %v; want the stderr line with trace_id %s, plugin greet, version 1.0.0", line, traceID)
	}

	// A payload failing the schema is archived at once with the schema error.
	bad := e.enqueue(t, "greet:hello", `{"name":"","extra":1}`, &tasks.EnqueueOptions{MaxRetry: intp(5)})
	ti = e.wait(t, bad)
	want := "plugins: greet 1.0.0: payload does not match the task type's schema: at /: additional properties 'extra' not allowed; " +
		"at /name: minLength: got 0, want 1 (skip retry for the task)"
	if ti.State != asynq.TaskStateArchived || ti.Retried != 0 || ti.LastErr != want {
		t.Fatalf("schema rejection: state %s, retried %d, error\n%q\nwant archived, 0 retries, error\n%q", ti.State, ti.Retried, ti.LastErr, want)
	}
}

// readExample reads a file of examples/plugins.
func readExample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "plugins", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestProcessPythonExample runs the Python example (standard library only).
func TestProcessPythonExample(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	writePlugin(t, dir, "wordcount", readExample(t, "wordcount/plugin.yaml"),
		map[string]string{"wordcount.py": readExample(t, "wordcount/wordcount.py")})
	e := newEnv(t, dir, nil)
	got := result(t, e.wait(t, e.enqueue(t, "text:wordcount", `{"text":"one two\nthree"}`, nil)))
	if fmt.Sprint(got) != "map[lines:2 version:1.0.0 words:3]" {
		t.Fatalf("result = %v", got)
	}
	ti := e.wait(t, e.enqueue(t, "text:wordcount", `{"text":"   "}`, &tasks.EnqueueOptions{MaxRetry: intp(3)}))
	if ti.State != asynq.TaskStateArchived || ti.Retried != 0 ||
		ti.LastErr != "plugin wordcount 1.0.0: text is blank (the plugin asked not to retry): skip retry for the task" {
		t.Fatalf("blank text: state %s, retried %d, error %q", ti.State, ti.Retried, ti.LastErr)
	}
}

// TestProcessCrashAndHang: a process that crashes mid-task and one that
// hangs are killed and restarted; their tasks are retried and succeed, and
// the worker keeps serving.
func TestProcessCrashAndHang(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	// The deadline is long enough for a fresh plugin process to start and
	// answer on a loaded machine (-race, 2 cores), so that only the hang
	// meets it; the hang case waits it out once.
	writePlugin(t, dir, "tp", testManifest("tp", "1.0.0", "  tp:run:\n    timeout: 3s\n"),
		map[string]string{"testplugin": "@" + bins.testplugin})
	e := newEnv(t, dir, nil)

	for _, tc := range []struct {
		mode, wantErr string
	}{
		{"crash_once", "plugin tp 1.0.0: plugin process crashed: process %d exited while processing the task (exit status 3); last stderr: testplugin: crashing on purpose"},
		{"hang_once", "plugin tp 1.0.0: plugin process did not answer in time: process %d held the task past its deadline; killed it: context deadline exceeded"},
	} {
		before := pids(t, e)
		info := e.enqueue(t, "tp:run", `{"mode":"`+tc.mode+`","n":7}`, &tasks.EnqueueOptions{MaxRetry: intp(3)})
		ti := e.wait(t, info)
		got := result(t, ti)
		if ti.Retried != 1 || got["n"] != 7.0 {
			t.Fatalf("%s: retried %d, result %v; want 1 retry and n 7", tc.mode, ti.Retried, got)
		}
		if pid := int(got["pid"].(float64)); before[pid] {
			t.Fatalf("%s: retry ran on process %d, which should have been killed", tc.mode, pid)
		}
		var failed []string
		for _, r := range e.logs.Records(t, "task failed") {
			if r["task_id"] == info.ID {
				failed = append(failed, r["error"].(string))
			}
		}
		if len(failed) != 1 {
			t.Fatalf("%s: task failed lines: %q; want 1", tc.mode, failed)
		}
		m := regexp.MustCompile(`process (\d+) `).FindStringSubmatch(failed[0])
		if m == nil {
			t.Fatalf("%s: no pid in %q", tc.mode, failed[0])
		}
		pid, _ := strconv.Atoi(m[1])
		if want := fmt.Sprintf(tc.wantErr, pid); failed[0] != want {
			t.Fatalf("%s: error\n%q\nwant\n%q", tc.mode, failed[0], want)
		}
	}
	// The worker survived and the plugin serves the next task.
	if got := result(t, e.wait(t, e.enqueue(t, "tp:run", `{"n":1}`, nil))); got["n"] != 1.0 {
		t.Fatalf("after the crash: result %v", got)
	}
	if n := len(e.logs.Records(t, "plugin process failed; a new one starts for the next task")); n != 2 {
		t.Fatalf("%d \"plugin process failed\" lines; want 2", n)
	}
}

// pids returns the pids of the test plugin processes that answered so far.
func pids(t *testing.T, e *env) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	for _, r := range e.logs.Records(t, "plugin process started") {
		out[int(r["pid"].(float64))] = true
	}
	return out
}

// TestProcessRequest checks what a plugin process receives: a minimal
// environment, the config, base64 for a payload that is not JSON, and the
// traceparent; and that an error line with "retry": false archives.
func TestProcessRequest(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	manifest := testManifest("tp", "2.1", "  tp:run: {}\nconfig:\n  size: 3\n  name: x\nenv: [LANG, MISSING]\n")
	writePlugin(t, dir, "tp", manifest, map[string]string{"testplugin": "@" + bins.testplugin})
	e := newEnv(t, dir, nil)

	ti := e.wait(t, e.enqueue(t, "tp:run", "\x00binary", nil)) // mode "" returns everything
	got := result(t, ti)
	wantEnv := "[LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin TUSKQ_PLUGIN_DIR=" + filepath.Join(dir, "tp") +
		" TUSKQ_PLUGIN_NAME=tp TUSKQ_PLUGIN_VERSION=2.1]"
	if env := fmt.Sprint(got["env"]); env != wantEnv {
		t.Errorf("environment %s; want %s", env, wantEnv)
	}
	if cfg := fmt.Sprint(got["config"]); cfg != "map[name:x size:3]" {
		t.Errorf("config %s", cfg)
	}
	if got["base64"] != "AGJpbmFyeQ==" {
		t.Errorf("payload_base64 %v; want AGJpbmFyeQ==", got["base64"])
	}
	if got["traceparent"] != ti.Headers[tasks.HeaderTraceparent] || got["traceparent"] == "" {
		t.Errorf("traceparent %v; want %s", got["traceparent"], ti.Headers[tasks.HeaderTraceparent])
	}

	ti = e.wait(t, e.enqueue(t, "tp:run", `{"mode":"fail","retry":false}`, &tasks.EnqueueOptions{MaxRetry: intp(3)}))
	if ti.State != asynq.TaskStateArchived || ti.LastErr != "plugin tp 2.1: planned failure (the plugin asked not to retry): skip retry for the task" {
		t.Errorf("retry false: state %s, error %q", ti.State, ti.LastErr)
	}
	ti = e.wait(t, e.enqueue(t, "tp:run", `{"mode":"fail"}`, &tasks.EnqueueOptions{MaxRetry: intp(1)}))
	if ti.State != asynq.TaskStateArchived || ti.Retried != 1 || ti.LastErr != "plugin tp 2.1: planned failure" {
		t.Errorf("plain error: state %s, retried %d, error %q", ti.State, ti.Retried, ti.LastErr)
	}
	ti = e.wait(t, e.enqueue(t, "tp:run", `{"mode":"badline"}`, &tasks.EnqueueOptions{MaxRetry: intp(0)}))
	if !strings.HasPrefix(ti.LastErr, "plugin tp 2.1: plugin protocol violation: process ") ||
		!strings.HasSuffix(ti.LastErr, " wrote a line that is not a JSON response (killed it): \"this is not JSON\"") {
		t.Errorf("bad line: error %q", ti.LastErr)
	}
}

// TestProcessNotReady: a plugin that never writes its ready line fails to
// load, with its stderr in the error.
func TestProcessNotReady(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	writePlugin(t, dir, "slow", "name: slow\nversion: '1'\nruntime: process\nentry: run.sh\ntask_types: {slow:x: {}}\n",
		map[string]string{"run.sh": "#!/bin/sh\necho 'connecting to the database' >&2\nexec sleep 1000\n"})
	rts := runtimes()
	// Long enough for the shell to have written its stderr line on a
	// loaded machine; the plugin never becomes ready whatever the bound.
	rts[plugins.RuntimeProcess] = resident.New(resident.Options{StartTimeout: 3 * time.Second})
	m := startManager(t, plugins.Options{Dir: dir, Runtimes: rts})
	lp := loaded(m, "slow")
	re := regexp.MustCompile(`^plugins: slow 1 \(process runtime\): process \d+ did not write \{"ready": true\} within 3s; last stderr: connecting to the database$`)
	if lp.Status != plugins.StatusFailed || !re.MatchString(lp.Error) {
		t.Fatalf("%+v; want failed with an error matching %s", lp, re)
	}
}
