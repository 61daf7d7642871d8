package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// TestInsecureDirRefused: a plugin directory writable by its group stops
// Run with an error that says so.
func TestInsecureDirRefused(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	m, err := plugins.NewManager(plugins.Options{Dir: dir, Runtimes: runtimes()})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Run(t.Context())
	want := "plugins: insecure plugin path: " + dir + " is writable by its group (mode 0775), so they could change the code the worker runs; run chmod go-w " + dir
	if !errors.Is(err, plugins.ErrInsecure) || err.Error() != want {
		t.Fatalf("Run: %v\nwant %s", err, want)
	}
}

// TestPermissionChecks: plugins whose files others could change are refused
// one by one, with an error naming the path; fixing the mode loads them.
func TestPermissionChecks(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	dir := pluginDir(t)
	ok := writePlugin(t, dir, "ok", testManifest("ok", "1", "  ok:run: {}\n"), map[string]string{"testplugin": "@" + bins.testplugin})
	dirW := writePlugin(t, dir, "dirw", testManifest("dirw", "1", "  dirw:run: {}\n"), map[string]string{"testplugin": "@" + bins.testplugin})
	must(t, os.Chmod(dirW, 0o757))
	owned := writePlugin(t, dir, "owned", testManifest("owned", "1", "  owned:run: {}\n"), map[string]string{"testplugin": "@" + bins.testplugin})
	must(t, os.Chown(filepath.Join(owned, "plugin.yaml"), 65534, 65534))
	entryW := writePlugin(t, dir, "entryw", testManifest("entryw", "1", "  entryw:run: {}\n"), map[string]string{"testplugin": "@" + bins.testplugin})
	must(t, os.Chmod(filepath.Join(entryW, "testplugin"), 0o775))

	reg := tasks.NewRegistry()
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg})
	reg.SetResolver(m)
	want := map[string]string{
		"dirw": "plugins: insecure plugin path: " + dirW + " is writable by others (mode 0757), so they could change the code the worker runs; run chmod go-w " + dirW,
		"entryw": "plugins: insecure plugin path: " + entryW + "/testplugin is writable by its group (mode 0775), so they could change the code the worker runs; run chmod go-w " +
			entryW + "/testplugin",
		"ok":    "",
		"owned": "plugins: insecure plugin path: " + owned + "/plugin.yaml is owned by uid 65534, not by the worker's user (uid 0) or root; run chown 0 " + owned + "/plugin.yaml",
	}
	for _, lp := range m.Loaded() {
		if lp.Error != want[lp.Name] {
			t.Errorf("%s: error\n%q\nwant\n%q", lp.Name, lp.Error, want[lp.Name])
		}
		if wantStatus := map[bool]string{true: plugins.StatusLoaded, false: plugins.StatusFailed}[want[lp.Name] == ""]; lp.Status != wantStatus {
			t.Errorf("%s: status %s; want %s", lp.Name, lp.Status, wantStatus)
		}
	}
	if n := len(m.Loaded()); n != 4 {
		t.Errorf("Loaded has %d plugins; want 4", n)
	}
	// The refused entry's task type is known from its manifest: its tasks
	// fail with the load error and follow the retry path.
	err := reg.ProcessTask(t.Context(), asynq.NewTask("entryw:run", nil))
	if !errors.Is(err, plugins.ErrNotLoaded) || err.Error() != "plugins: entryw: plugin not loaded: "+want["entryw"] {
		t.Errorf("task of the refused plugin: %v", err)
	}
	must(t, os.Chmod(filepath.Join(entryW, "testplugin"), 0o755))
	poll(t, "entryw loaded after chmod", func() bool { return loaded(m, "entryw").Status == plugins.StatusLoaded })
	if err := reg.ProcessTask(t.Context(), asynq.NewTask("entryw:run", []byte(`{}`))); err != nil {
		t.Errorf("after the fix: %v", err)
	}
	_ = ok
}

// TestClaimsAndEntry: task types already served, unknown runtimes and
// missing entries are refused with errors naming file and field.
func TestClaimsAndEntry(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	tp := map[string]string{"testplugin": "@" + bins.testplugin}
	a := writePlugin(t, dir, "a", testManifest("a", "1", "  dup:x: {}\n"), tp)
	b := writePlugin(t, dir, "b", testManifest("b", "1", "  dup:x: {}\n  b:y: {}\n"), tp)
	c := writePlugin(t, dir, "c", testManifest("c", "1", "  builtin:echo: {}\n"), tp)
	d := writePlugin(t, dir, "d", "name: d\nversion: '1'\nruntime: wasm\nentry: testplugin\ntask_types: {d:x: {}}\n", tp)
	e := writePlugin(t, dir, "e", "name: e\nversion: '1'\nruntime: exec\nentry: bin/missing\ntask_types: {e:x: {}}\n", nil)
	f := writePlugin(t, dir, "f", testManifest("a", "1", "  f:x: {}\n"), tp)
	must(t, os.Mkdir(filepath.Join(dir, "g"), 0o755))
	reg := tasks.NewRegistry()
	reg.MustRegister("builtin:echo", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg})
	want := map[string]string{
		"a": "",
		"b": "plugins: " + b + "/plugin.yaml: task_types.dup:x: task type already claimed by plugin a (" + a + ")",
		"c": "plugins: " + c + "/plugin.yaml: task_types.builtin:echo: task type already claimed by a processor compiled into the worker",
		"d": "plugins: " + d + "/plugin.yaml: runtime: unknown plugin runtime \"wasm\"; this worker has exec, process",
		"e": "plugins: " + e + "/plugin.yaml: entry: " + e + "/bin/missing does not exist",
		"f": "plugins: " + f + "/plugin.yaml: name: \"a\" is already the name of the plugin in " + a + "; plugin names must be unique",
		"g": "plugins: " + dir + "/g: no plugin.yaml; every plugin directory needs a manifest (see docs/plugins.md)",
	}
	got := map[string]string{}
	for _, lp := range m.Loaded() {
		key := lp.Name
		if key == "a" && lp.Error != "" {
			key = "f"
		}
		got[key] = lp.Error
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: error\n%q\nwant\n%q", name, got[name], w)
		}
	}
	// b's types are not served: dup:x stays with a, b:y is unknown.
	if _, ok := m.Resolve("b:y"); ok {
		t.Error("b:y resolves although plugin b was refused for a claimed type")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
