package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/wasm"
)

func TestEchoLogsWithTraceID(t *testing.T) {
	t.Parallel()
	var logs testutil.LogBuffer
	inst := startProbe(t, newRuntime(wasm.Options{}), "", &logs)
	ctx := traceCtx(t, "0af7651916cd43dd8448eb211c80319c")
	got, err := run(ctx, inst, "probe:echo", "hello")
	if err != nil || got != "hello" {
		t.Fatalf("echo = %q, %v; want hello, nil", got, err)
	}
	recs := logs.Records(t, "echo hello")
	if len(recs) != 1 || recs[0]["trace_id"] != "0af7651916cd43dd8448eb211c80319c" || recs[0]["plugin"] != "probe" || recs[0]["level"] != "INFO" {
		t.Fatalf("log records %v; want one INFO record with the task's trace_id and plugin probe", recs)
	}
	prog := logs.Records(t, "plugin progress")
	if len(prog) != 1 || prog[0]["percent"] != float64(100) || prog[0]["message"] != "done" {
		t.Fatalf("progress records %v; want percent 100, message done", prog)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "", nil)
	_, err := run(t.Context(), inst, "probe:fail", "")
	var te *plugins.TaskError
	if !errors.As(err, &te) || te.Message != "failed on purpose" || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("probe:fail error = %v; want a retried TaskError %q", err, "failed on purpose")
	}
	_, err = run(t.Context(), inst, "probe:skip", "")
	if !errors.As(err, &te) || te.Message != "bad payload (skip retry)" || !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("probe:skip error = %v; want a TaskError wrapping asynq.SkipRetry", err)
	}
	// A task error keeps the instance: the count goes on.
	got, err := run(t.Context(), inst, "probe:count", "")
	if err != nil || got != "3" {
		t.Fatalf("count after two failed tasks = %q, %v; want 3 (the same instance)", got, err)
	}
}

type sandboxReport struct {
	ReadEtcPasswd  string   `json:"read_etc_passwd"`
	ReadRoot       string   `json:"read_root"`
	ReadGranted    string   `json:"read_granted"`
	GrantedContent string   `json:"granted_content"`
	Dial           string   `json:"dial"`
	Environ        []string `json:"environ"`
	Year           int      `json:"year"`
	HTTP           string   `json:"http"`
}

func probeSandbox(t *testing.T, inst plugins.Instance, addr string) sandboxReport {
	t.Helper()
	got, err := run(t.Context(), inst, "probe:sandbox", addr)
	if err != nil {
		t.Fatal(err)
	}
	var r sandboxReport
	if err := json.Unmarshal([]byte(got), &r); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	return r
}

func TestSandboxGrantsNothingByDefault(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	inst := startProbe(t, newRuntime(wasm.Options{}), "", nil,
		"PATH=/usr/bin", "TUSKQ_PLUGIN_NAME=probe", "TUSKQ_PLUGIN_VERSION=1.0.0", "TUSKQ_PLUGIN_DIR=/somewhere", "TUSKQ_REDIS_PASSWORD=secret")
	r := probeSandbox(t, inst, ln.Addr().String())
	if r.ReadEtcPasswd == "ok" || r.ReadRoot == "ok" || r.ReadGranted == "ok" || r.GrantedContent != "" {
		t.Errorf("file system reachable without a grant: %+v", r)
	}
	if r.Dial == "ok" {
		t.Errorf("dial %s succeeded from the sandbox", ln.Addr())
	}
	if strings.Join(r.Environ, " ") != "TUSKQ_PLUGIN_NAME=probe TUSKQ_PLUGIN_VERSION=1.0.0" {
		t.Errorf("environ = %q; want only TUSKQ_PLUGIN_NAME and TUSKQ_PLUGIN_VERSION", r.Environ)
	}
	if r.Year != 2022 {
		t.Errorf("the guest read the year %d; want the fake clock's 2022 without sandbox.clock", r.Year)
	}
	if r.HTTP != "outbound HTTP not granted: add sandbox.http: true to the manifest" {
		t.Errorf("http = %q; want it not granted", r.HTTP)
	}
}

func TestSandboxGrants(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "env: [PROBE_VAR]\nsandbox:\n  dirs: [data]\n  clock: true\n", nil,
		"TUSKQ_PLUGIN_NAME=probe", "PROBE_VAR=visible", "OTHER=hidden")
	r := probeSandbox(t, inst, "127.0.0.1:1")
	if r.ReadGranted != "ok" || r.GrantedContent != "granted" {
		t.Errorf("granted dir: %q %q; want its file readable", r.ReadGranted, r.GrantedContent)
	}
	if r.ReadEtcPasswd == "ok" {
		t.Errorf("/etc/passwd readable with only data granted")
	}
	if strings.Join(r.Environ, " ") != "TUSKQ_PLUGIN_NAME=probe PROBE_VAR=visible" {
		t.Errorf("environ = %q; want TUSKQ_PLUGIN_NAME and PROBE_VAR only", r.Environ)
	}
	if y := time.Now().Year(); r.Year != y {
		t.Errorf("year = %d with sandbox.clock; want %d", r.Year, y)
	}
}

func TestInfiniteLoopStopsAtTimeLimit(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := run(ctx, inst, "probe:loop", "")
	if !errors.Is(err, wasm.ErrTimeLimit) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("loop error = %v; want ErrTimeLimit wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the loop stopped after %s", d)
	}
	got, err := run(t.Context(), inst, "probe:count", "")
	if err != nil || got != "1" {
		t.Fatalf("count after the loop = %q, %v; want 1 (a fresh instance)", got, err)
	}
}

func TestAllocPastCapFailsThatTaskOnly(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "limits:\n  memory: 32MiB\n", nil)
	if got, err := run(t.Context(), inst, "probe:count", ""); err != nil || got != "1" {
		t.Fatalf("count = %q, %v", got, err)
	}
	_, err := run(t.Context(), inst, "probe:alloc", "")
	if !errors.Is(err, wasm.ErrTrap) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("alloc error = %v; want ErrTrap naming out of memory", err)
	}
	got, err := run(t.Context(), inst, "probe:count", "")
	if err != nil || got != "1" {
		t.Fatalf("count after the failed alloc = %q, %v; want 1 (a fresh instance)", got, err)
	}
}

func TestPanicFailsThatTaskOnly(t *testing.T) {
	t.Parallel()
	var logs testutil.LogBuffer
	inst := startProbe(t, newRuntime(wasm.Options{}), "", &logs)
	for i := range 3 {
		if _, err := run(t.Context(), inst, "probe:count", ""); err != nil {
			t.Fatalf("count %d: %v", i, err)
		}
	}
	_, err := run(t.Context(), inst, "probe:panic", "")
	if !errors.Is(err, wasm.ErrTrap) || !strings.Contains(err.Error(), "probe panics on purpose") {
		t.Fatalf("panic error = %v; want ErrTrap with the panic's message", err)
	}
	got, err := run(t.Context(), inst, "probe:count", "")
	if err != nil || got != "1" {
		t.Fatalf("count after the panic = %q, %v; want 1 (a fresh instance, the panicked one discarded)", got, err)
	}
}
