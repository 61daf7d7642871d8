package topologytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/internal/workercmd"
	"github.com/tuskq/tuskq/plugins/fleetstate"
	"github.com/tuskq/tuskq/tasks"
)

// testFleetStatePubSub: disabling a plugin, changing its configuration
// and enabling it again with the operator's command ("worker plugins",
// given the config file) reach a worker's live State by pub/sub alone:
// the State's periodic resync is set to an hour, so nothing else could
// bring the change.
func testFleetStatePubSub(t *testing.T, tp *topo) {
	ctx := t.Context()
	rdb, err := redisconn.Client(tp.redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	sub, err := fleetstate.Open(ctx, rdb, fleetstate.Options{ResyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sub.Close(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("close state: %v", err)
		}
	})
	ticks := sub.Subscribe()

	// The writer is the operator's command ("worker plugins …") given the
	// same config file, on another connection as on another host.
	path := writeConfig(t, tp.config(map[string]int{"default": 1}))
	name := "topo-" + tp.mode
	cli := func(want string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := workercmd.Main(t.Context(), workercmd.Env{
			Args:   append(append([]string{"plugins"}, args...), "--force", "--config", path),
			Stdout: &out, Stderr: &errOut, Environ: []string{},
		})
		if code != 0 || out.String() != want {
			t.Fatalf("worker plugins %v: exit %d, output %q%s; want 0 and %q", args, code, out.String(), errOut.String(), want)
		}
	}
	if !sub.Enabled(name) {
		t.Fatalf("%s disabled before any change", name)
	}
	// arrives waits for the subscriber's tick after a change and returns
	// how long it took.
	arrives := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			select {
			case <-ticks:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no change reached the subscriber within 5 s (its resync is 1 h, so only pub/sub could bring it)", what)
			}
		}
		return time.Since(start)
	}

	cli("plugin "+name+" disabled (was enabled)\n", "disable", name)
	d := arrives("disable", func() bool { return !sub.Enabled(name) })
	t.Logf("disable reached the subscriber by pub/sub %v after the command returned", d)

	cli("label=\"big\"\nsize=5\n", "config", name, "size=5", `label="big"`)
	d = arrives("config", func() bool { return fmt.Sprint(sub.Config(name)) == "map[label:big size:5]" })
	t.Logf("config change reached the subscriber by pub/sub %v after the command returned", d)

	cli("plugin "+name+" enabled (was disabled)\n", "enable", name)
	arrives("enable", func() bool { return sub.Enabled(name) })
	store := fleetstate.NewStore(rdb)
	rev, err := store.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Rev() != rev {
		t.Fatalf("subscriber at revision %d; the store is at %d", sub.Rev(), rev)
	}
}

// examplePlugin copies examples/plugins/name into dir.
func examplePlugin(t *testing.T, dir, name string) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "plugins", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(e.Name()) != ".yaml" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name, e.Name()), data, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// testProcessPlugin runs the worker command with a config file alone
// (redis mode and addresses, queues, plugins.dir) over the example
// plugins: the Python process plugin (wordcount) and the shell exec
// plugin (shout) process tasks, the plugin's stderr line carries the
// task's trace_id, and the worker reports its plugins in the fleet state.
func testProcessPlugin(t *testing.T, tp *topo) {
	// Plugins run with PATH=/usr/local/bin:/usr/bin:/bin.
	python := false
	for _, d := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if _, err := exec.LookPath(filepath.Join(d, "python3")); err == nil {
			python = true
		}
	}
	if !python {
		t.Logf("no python3 in /usr/local/bin, /usr/bin or /bin: the wordcount (process runtime) part is left out; the shell plugin still runs")
	}
	qs := tp.queues(t, "plugin", 2)
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	examplePlugin(t, dir, "shout")
	if python {
		examplePlugin(t, dir, "wordcount")
	}
	cfg := tp.config(weights(qs))
	cfg.Plugins.Dir = dir
	path := writeConfig(t, cfg)

	logs := &testutil.LogBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- workercmd.Main(ctx, workercmd.Env{Args: []string{"--config", path}, Environ: []string{}, Stdout: logs, Stderr: logs})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("worker exited %d: %s", code, logs.String())
			}
		case <-time.After(waitFor):
			t.Error("worker did not stop in time")
		}
	})
	poll(t, "the worker to start", func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("worker exited %d before starting: %s", code, logs.String())
		default:
		}
		return len(logs.Records(t, "worker started")) == 1
	})

	c := tp.client(t)
	enqueue := func(typ, q, payload string) (*tasks.TaskInfo, *asynq.TaskInfo) {
		t.Helper()
		info, err := c.Enqueue(t.Context(), typ, []byte(payload), &tasks.EnqueueOptions{Queue: q, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return info, wait(t, c, q, info.ID)
	}
	info, ti := enqueue("text:shout", qs[0], "hello, "+tp.mode)
	if ti.State != asynq.TaskStateCompleted || string(ti.Result) != "HELLO, "+string(bytes.ToUpper([]byte(tp.mode))) {
		t.Fatalf("shout: state %s, result %q, error %q", ti.State, ti.Result, ti.LastErr)
	}
	var line map[string]any
	for _, r := range logs.Records(t, "plugin log") {
		if r["task_id"] == info.ID {
			line = r
		}
	}
	if line == nil || line["line"] != "shouting for task "+info.ID+" (attempt 1)" || line["trace_id"] != info.TraceID || line["plugin"] != "shout" {
		t.Fatalf("plugin log record %v; want the stderr line with trace_id %s", line, info.TraceID)
	}
	want := []string{"shout"}
	if python {
		_, ti = enqueue("text:wordcount", qs[1], `{"text":"one two\nthree"}`)
		var got map[string]any
		if err := json.Unmarshal(ti.Result, &got); err != nil || ti.State != asynq.TaskStateCompleted ||
			fmt.Sprint(got) != "map[lines:2 version:1.0.0 words:3]" {
			t.Fatalf("wordcount: state %s, result %s (%v), error %q", ti.State, ti.Result, err, ti.LastErr)
		}
		want = append(want, "wordcount")
	}

	rdb, err := redisconn.Client(tp.redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	poll(t, "the worker's plugin report", func() bool {
		reps, err := fleetstate.NewStore(rdb).Workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			var loaded []string
			for _, p := range r.Plugins {
				if p.Status == "loaded" {
					loaded = append(loaded, p.Name)
				}
			}
			slices.Sort(loaded)
			if slices.Equal(loaded, want) {
				return true
			}
		}
		return false
	})
}
