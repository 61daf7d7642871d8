package plugins_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// TestHotReloadUnderLoad upgrades a plugin while 1,000 tasks flow: none is
// lost, each is processed by v1 or v2 (its result says which), and v1 is
// stopped once its tasks are done. Then a broken v3 leaves v2 serving.
func TestHotReloadUnderLoad(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	types := "  tp:run: {}\nlimits: {max_concurrency: 4}\n"
	writePlugin(t, dir, "tp", testManifest("tp", "1", types), map[string]string{"testplugin": "@" + bins.testplugin})
	e := newEnv(t, dir, nil)

	const n = 1000
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "tp:run", Payload: fmt.Appendf(nil, `{"mode":"sleep","ms":1,"n":%d}`, i),
			Options: tasks.EnqueueOptions{Retention: time.Hour, MaxRetry: intp(0)}}
	}
	for i, res := range e.client.EnqueueMany(t.Context(), reqs, 16) {
		if res.Err != nil {
			t.Fatalf("enqueue %d: %v", i, res.Err)
		}
	}
	completed := func() int {
		qi, err := e.insp.GetQueueInfo("default")
		if err != nil {
			t.Fatal(err)
		}
		if qi.Archived > 0 || qi.Retry > 0 {
			t.Fatalf("queue has %d archived and %d retry tasks; want none", qi.Archived, qi.Retry)
		}
		return qi.Completed
	}
	poll(t, "100 tasks done by v1", func() bool { return completed() >= 100 })
	writeFile(t, dir+"/tp/plugin.yaml", []byte(testManifest("tp", "2", types)), 0o644)
	poll(t, "all tasks done", func() bool { return completed() == n })

	byVersion := map[string]int{}
	seen := map[int]bool{}
	for page := 1; ; page++ {
		infos, err := e.insp.ListCompletedTasks("default", asynq.PageSize(500), asynq.Page(page))
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) == 0 {
			break
		}
		for _, ti := range infos {
			var r struct {
				Version string `json:"version"`
				N       int    `json:"n"`
			}
			if err := json.Unmarshal(ti.Result, &r); err != nil {
				t.Fatalf("result %q: %v", ti.Result, err)
			}
			byVersion[r.Version]++
			seen[r.N] = true
		}
	}
	if len(seen) != n || byVersion["1"] == 0 || byVersion["2"] == 0 || byVersion["1"]+byVersion["2"] != n {
		t.Fatalf("%d distinct tasks, by version %v; want %d, all by version 1 or 2, both used", len(seen), byVersion, n)
	}
	poll(t, "v1 stopped", func() bool {
		for _, r := range e.logs.Records(t, "plugin version stopped") {
			if r["version"] == "1" {
				return true
			}
		}
		return false
	})
	t.Logf("by version: %v", byVersion)

	// A broken v3 leaves v2 serving and records the error.
	writeFile(t, dir+"/tp/plugin.yaml", []byte(testManifest("tp", "3", types+"colour: blue\n")), 0o644)
	wantErr := "plugins: " + dir + "/tp/plugin.yaml: line 8: colour: unknown field; the fields of the manifest are " +
		"name, version, description, runtime, entry, args, task_types, config, limits, env, sandbox"
	poll(t, "v3 rejected", func() bool { return loaded(e.mgr, "tp").Error != "" })
	if lp := loaded(e.mgr, "tp"); lp.Version != "2" || lp.Status != plugins.StatusLoaded || lp.Error != wantErr {
		t.Fatalf("after broken v3: %+v; want version 2 loaded with error %q", lp, wantErr)
	}
	got := result(t, e.wait(t, e.enqueue(t, "tp:run", `{"n":1}`, nil)))
	if got["version"] != "2" {
		t.Fatalf("after broken v3, result %v; want version 2", got)
	}

	// A v4 whose process cannot start leaves v2 serving too.
	writePlugin(t, dir, "tp", strings.Replace(testManifest("tp", "4", types), "entry: testplugin", "entry: broken.sh", 1),
		map[string]string{"broken.sh": "#!/bin/sh\necho 'cannot start: no database' >&2\nexit 2\n"})
	poll(t, "v4 rejected", func() bool { return strings.Contains(loaded(e.mgr, "tp").Error, "tp 4") })
	lp := loaded(e.mgr, "tp")
	if lp.Version != "2" || !strings.HasPrefix(lp.Error, "plugins: tp 4 (process runtime): plugin process crashed: process ") ||
		!strings.HasSuffix(lp.Error, " exited before it was ready (exit status 2); last stderr: cannot start: no database") {
		t.Fatalf("after v4: %+v", lp)
	}
	if got := result(t, e.wait(t, e.enqueue(t, "tp:run", `{"n":2}`, nil))); got["version"] != "2" {
		t.Fatalf("after v4, result %v; want version 2", got)
	}
}

// loaded returns the Loaded entry of the plugin.
func loaded(m *plugins.Manager, name string) plugins.LoadedPlugin {
	for _, lp := range m.Loaded() {
		if lp.Name == name {
			return lp
		}
	}
	return plugins.LoadedPlugin{}
}
