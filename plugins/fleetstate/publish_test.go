package fleetstate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/fleetstate"
	"github.com/tuskq/tuskq/plugins/wasm"
)

// goTool is the go command on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// probeModule builds the wasm runtime's test guest, or skips when the Go
// toolchain cannot target wasip1.
func probeModule(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "probe.wasm")
	cmd := exec.CommandContext(t.Context(), goTool(), "build", "-buildmode=c-shared", "-o", out, "./plugins/wasm/testdata/probe")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "unsupported GOOS/GOARCH") {
			t.Skip("the Go toolchain cannot build wasip1 reactors here; skipping the publish test")
		}
		t.Fatalf("build the probe guest: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func probeManifest(version string) []byte {
	return fmt.Appendf(nil, "name: probe\nversion: %s\nruntime: wasm\nentry: bin/probe.wasm\ntask_types:\n  probe:version: {}\n", version)
}

// warmUp compiles module once into rt's cache, so that the three workers
// do not compile it at the same time (minutes under -race).
func warmUp(t *testing.T, rt *wasm.Runtime, module []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe.wasm"), module, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := plugins.ParseManifest(plugins.ManifestFile, []byte("name: probe\nversion: 0\nruntime: wasm\nentry: probe.wasm\ntask_types:\n  probe:version: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.Start(t.Context(), plugins.Spec{Manifest: m, Dir: dir, Entry: filepath.Join(dir, "probe.wasm")})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// publishWorker is one in-process worker: fleet state, plugin manager and
// bundle syncer.
type publishWorker struct {
	id  string
	mgr *plugins.Manager
}

func startPublishWorker(t *testing.T, addr, id string, rt *wasm.Runtime, trusted []ed25519.PublicKey) *publishWorker {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := fleetstate.Open(t.Context(), rdb, fleetstate.Options{WorkerID: id})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mgr, err := plugins.NewManager(plugins.Options{Dir: dir, Runtimes: plugins.Runtimes{plugins.RuntimeWasm: rt},
		State: st, ReloadDebounce: 20 * time.Millisecond,
		StartTimeout: 5 * time.Minute}) // the first compile of a Go module under -race is slow
	if err != nil {
		t.Fatal(err)
	}
	syncer := fleetstate.NewSyncer(fleetstate.SyncOptions{Store: fleetstate.NewStore(rdb), PluginDir: dir, CacheDir: t.TempDir(),
		TrustedKeys: trusted, WorkerID: id, Changes: st.Subscribe(), Interval: 500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	mdone, sdone := make(chan error, 1), make(chan struct{})
	go func() { done := mgr.Run(ctx); mdone <- done }()
	go func() { syncer.Run(ctx); close(sdone) }()
	t.Cleanup(func() {
		cancel()
		<-sdone
		if err := <-mdone; err != nil {
			t.Error(err)
		}
		_ = st.Close(context.WithoutCancel(t.Context()))
	})
	return &publishWorker{id: id, mgr: mgr}
}

func (w *publishWorker) version() string {
	for _, l := range w.mgr.Loaded() {
		if l.Name == "probe" && l.Status == plugins.StatusLoaded {
			return l.Version
		}
	}
	return ""
}

// TestPublishToThreeWorkers publishes a wasm plugin once and watches three
// running workers load it, a new version, a rollback, and refuse a bundle
// whose digest is wrong (reported by every worker) while keeping the
// version they run.
func TestPublishToThreeWorkers(t *testing.T) {
	t.Parallel()
	module := probeModule(t)
	srv := redistest.Start(t)
	rt := wasm.New(wasm.Options{CacheDir: t.TempDir()})
	warmUp(t, rt, module)
	var workers []*publishWorker
	for i := range 3 {
		workers = append(workers, startPublishWorker(t, srv.Addr(), fmt.Sprintf("w%d", i), rt, nil))
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	store := fleetstate.NewStore(rdb)
	publish := func(version string, tamper bool) {
		t.Helper()
		b, err := fleetstate.NewBundle(probeManifest(version), module, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			b.Module = append(bytes.Clone(b.Module), 0)
		}
		if err := store.Publish(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	allRun := func(version string) {
		t.Helper()
		took := testutil.Poll(t, 2*time.Minute, "every worker running probe "+version, func() bool {
			for _, w := range workers {
				if w.version() != version {
					return false
				}
			}
			return true
		})
		t.Logf("probe %s loaded by 3 workers in %s", version, took)
	}

	publish("1.0.0", false)
	allRun("1.0.0")

	// Load on worker 0 while new versions arrive: no task may fail.
	proc, ok := workers[0].mgr.Resolve("probe:version")
	if !ok {
		t.Fatal("probe:version not served")
	}
	var (
		ran, failed atomic.Int64
		firstErr    atomic.Value
		stop        atomic.Bool
		wg          sync.WaitGroup
	)
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				if err := proc.ProcessTask(context.WithoutCancel(t.Context()), asynq.NewTask("probe:version", nil)); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				ran.Add(1)
			}
		})
	}
	publish("2.0.0", false)
	allRun("2.0.0")
	for _, w := range workers {
		p, ok := w.mgr.Resolve("probe:version")
		if !ok {
			t.Fatalf("%s: probe:version not served", w.id)
		}
		if err := p.ProcessTask(t.Context(), asynq.NewTask("probe:version", nil)); err != nil {
			t.Fatalf("%s: %v", w.id, err)
		}
	}
	if v, err := store.Rollback(t.Context(), "probe"); err != nil || v != "1.0.0" {
		t.Fatalf("Rollback = %q, %v; want 1.0.0", v, err)
	}
	allRun("1.0.0")
	n := ran.Load()
	testutil.Poll(t, time.Minute, "tasks after the rollback", func() bool { return ran.Load() > n+20 })
	stop.Store(true)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d tasks failed while versions were published and rolled back; first: %v", f, ran.Load(), firstErr.Load())
	}
	t.Logf("%d tasks ran on worker 0 across 2.0.0 and the rollback, none failed", ran.Load())

	publish("3.0.0", true)
	var refusals map[string]string
	testutil.Poll(t, time.Minute, "3 workers reporting the refusal", func() bool {
		var err error
		refusals, err = store.Refusals(t.Context(), "probe")
		if err != nil {
			t.Fatal(err)
		}
		return len(refusals) == 3
	})
	for w, why := range refusals {
		if !strings.HasPrefix(why, "3.0.0: bundle digest mismatch: probe 3.0.0: its contents hash to ") {
			t.Errorf("worker %s reports %q; want the digest mismatch", w, why)
		}
	}
	for _, w := range workers {
		if v := w.version(); v != "1.0.0" {
			t.Errorf("%s runs %q after the refused bundle; want 1.0.0 still", w.id, v)
		}
	}
}

func TestBundleSignature(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	module := []byte("\x00asm\x01\x00\x00\x00")
	signed, err := fleetstate.NewBundle(probeManifest("1"), module, priv)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := fleetstate.NewBundle(probeManifest("1"), module, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Verify([]ed25519.PublicKey{pub}); err != nil {
		t.Fatalf("signed bundle with its key trusted: %v", err)
	}
	if err := unsigned.Verify(nil); err != nil {
		t.Fatalf("unsigned bundle with no trusted keys: %v", err)
	}
	if err := unsigned.Verify([]ed25519.PublicKey{pub}); !errors.Is(err, fleetstate.ErrSignature) || !strings.Contains(err.Error(), "is unsigned") {
		t.Fatalf("unsigned bundle with trusted keys: %v; want ErrSignature (unsigned)", err)
	}
	if err := signed.Verify([]ed25519.PublicKey{other}); !errors.Is(err, fleetstate.ErrSignature) {
		t.Fatalf("bundle signed by an untrusted key: %v; want ErrSignature", err)
	}
	signed.Module = append(bytes.Clone(signed.Module), 1)
	if err := signed.Verify([]ed25519.PublicKey{pub}); !errors.Is(err, fleetstate.ErrDigest) {
		t.Fatalf("tampered bundle: %v; want ErrDigest", err)
	}
	if _, err := fleetstate.NewBundle([]byte("name: p\nversion: 1\nruntime: exec\nentry: run.sh\ntask_types:\n  p:x: {}\n"), nil, nil); !errors.Is(err, fleetstate.ErrBundle) ||
		!strings.Contains(err.Error(), "only wasm plugins can be published") {
		t.Fatalf("NewBundle of an exec plugin: %v; want refused", err)
	}
	big := make([]byte, fleetstate.MaxBundleSize)
	if _, err := fleetstate.NewBundle(probeManifest("1"), big, nil); !errors.Is(err, fleetstate.ErrBundle) {
		t.Fatalf("NewBundle past MaxBundleSize: %v; want ErrBundle", err)
	}
}
