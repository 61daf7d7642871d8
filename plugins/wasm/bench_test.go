package wasm_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/wasm"
	"github.com/tuskq/tuskq/tasks"
)

// BenchmarkTaskOverhead measures one task with a 100-byte payload that is
// returned as the result: a compiled-in processor doing the same against
// the wasm runtime (a pooled instance of a Go guest). The difference is the
// wasm runtime's per-task overhead; docs/benchmarks.md reports it.
func BenchmarkTaskOverhead(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 100)
	b.Run("compiled-in", func(b *testing.B) {
		reg := tasks.NewRegistry()
		var sink []byte
		reg.MustRegister("go:noop", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			sink = bytes.Clone(t.Payload())
			return nil
		}))
		task := asynq.NewTask("go:noop", payload)
		defer cpuPerOp(b)()
		for b.Loop() {
			if err := reg.ProcessTask(b.Context(), task); err != nil {
				b.Fatal(err)
			}
		}
		_ = sink
	})
	b.Run("wasm", func(b *testing.B) {
		inst := startProbe(b, newRuntime(wasm.Options{}), "", nil)
		task := asynq.NewTask("probe:noop", payload)
		meta := plugins.Meta{TaskID: "0f8c6b7e-5a8d-4d6c-9a53-8f1f3f0c2a11", Queue: "default", MaxRetry: 25,
			Headers: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, Config: map[string]any{"k": "v"}}
		defer cpuPerOp(b)()
		for b.Loop() {
			res, err := inst.Process(b.Context(), task, meta)
			if err != nil || len(res) != 100 {
				b.Fatal(len(res), err)
			}
		}
	})
}

// BenchmarkInstanceRSS reports the resident memory one pooled instance of
// the probe guest (a Go module) adds to the worker: it grows the pool by 16
// instances once, each running a task so that its Go runtime has started,
// and divides the growth of VmRSS. The loop itself runs no-op tasks.
func BenchmarkInstanceRSS(b *testing.B) {
	const n = 16
	inst := startProbe(b, newRuntime(wasm.Options{}), "limits:\n  max_concurrency: 32\n", nil)
	runtime.GC()
	before := rssKiB(b)
	if err := wasm.Grow(b.Context(), inst, n); err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := inst.Process(b.Context(), asynq.NewTask("probe:noop", []byte("x")), plugins.Meta{})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	perInstance := float64(rssKiB(b)-before) / n
	for b.Loop() {
		if _, err := inst.Process(b.Context(), asynq.NewTask("probe:noop", []byte("x")), plugins.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perInstance, "KiB/instance")
}

// cpuPerOp reports the process's CPU time (user and system) per
// iteration as "cpu-µs/op": on a shared machine the wall time per task
// (ns/op) includes the time other processes held the CPUs, the CPU time
// does not. Call it right before the loop and defer the function it
// returns.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKiB reads VmRSS from /proc/self/status (Linux).
func rssKiB(b *testing.B) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status: RSS is measured on Linux only")
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkTaskOverheadWAT is the floor of the runtime: the same task on
// the hand-written WebAssembly text example, which has no language
// runtime of its own (skipped without wat2wasm).
func BenchmarkTaskOverheadWAT(b *testing.B) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		b.Skip("wat2wasm not installed (apt-get install wabt)")
	}
	dir := filepath.Join(moduleRoot(b), "examples/plugins/wasm-wat")
	out := filepath.Join(b.TempDir(), "hello.wasm")
	if msg, err := exec.CommandContext(b.Context(), wat2wasm, "-o", out, filepath.Join(dir, "hello.wat")).CombinedOutput(); err != nil {
		b.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	text, err := os.ReadFile(filepath.Join(dir, plugins.ManifestFile))
	if err != nil {
		b.Fatal(err)
	}
	m, err := plugins.ParseManifest(plugins.ManifestFile, text)
	if err != nil {
		b.Fatal(err)
	}
	inst, err := newRuntime(wasm.Options{}).Start(b.Context(), plugins.Spec{Manifest: m, Dir: dir, Entry: out})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.WithoutCancel(b.Context()))
	task := asynq.NewTask("hello:wat", bytes.Repeat([]byte("x"), 100))
	defer cpuPerOp(b)()
	for b.Loop() {
		if _, err := inst.Process(b.Context(), task, plugins.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
}
