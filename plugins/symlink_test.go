package plugins_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// TestSymlinkChecks: links are resolved before the checks; a manifest or
// entry resolving outside its plugin directory is refused, and so is a
// linked plugin directory below a directory others can write. A link that
// stays inside the plugin directory is fine.
func TestSymlinkChecks(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "plugins")
	must(t, os.Mkdir(dir, 0o755))
	tp := map[string]string{"testplugin": "@" + bins.testplugin}

	// Entry linked to a file outside the plugin directory.
	out := writePlugin(t, dir, "out", testManifest("out", "1", "  out:run: {}\n"), nil)
	must(t, os.Symlink(bins.testplugin, filepath.Join(out, "testplugin")))
	// Manifest linked to a file outside the plugin directory.
	other := writePlugin(t, base, "elsewhere", testManifest("man", "1", "  man:run: {}\n"), nil)
	man := writePlugin(t, dir, "man", "", tp)
	must(t, os.Remove(filepath.Join(man, "plugin.yaml")))
	must(t, os.Symlink(filepath.Join(other, "plugin.yaml"), filepath.Join(man, "plugin.yaml")))
	// Plugin directory linked into a directory everyone can write.
	open := filepath.Join(base, "open")
	must(t, os.Mkdir(open, 0o755))
	must(t, os.Chmod(open, 0o777))
	writePlugin(t, open, "real", testManifest("wide", "1", "  wide:run: {}\n"), tp)
	must(t, os.Symlink(filepath.Join(open, "real"), filepath.Join(dir, "wide")))
	// Entry linked, inside the directory, to a group-writable file.
	gw := writePlugin(t, dir, "gw", testManifest("gw", "1", "  gw:run: {}\n"), map[string]string{"bin/v1": "@" + bins.testplugin})
	must(t, os.Chmod(filepath.Join(gw, "bin", "v1"), 0o775))
	must(t, os.Symlink("bin/v1", filepath.Join(gw, "testplugin")))
	// Entry linked inside the directory to a secure file: loads.
	in := writePlugin(t, dir, "in", testManifest("in", "1", "  in:run: {}\n"), map[string]string{"bin/v2": "@" + bins.testplugin})
	must(t, os.Symlink("bin/v2", filepath.Join(in, "testplugin")))

	m := startManager(t, plugins.Options{Dir: dir})
	want := map[string]string{
		"out": "plugins: insecure plugin path: " + out + "/testplugin resolves to " + bins.testplugin + ", outside the plugin directory " + out +
			"; a symbolic link in a plugin may point only inside its directory",
		"man": "plugins: insecure plugin path: " + man + "/plugin.yaml resolves to " + other + "/plugin.yaml, outside the plugin directory " + man +
			"; a symbolic link in a plugin may point only inside its directory",
		"wide": "plugins: insecure plugin path: " + open + " is writable by group and others (mode 0777), so they could change the code the worker runs; run chmod go-w " + open,
		"gw": "plugins: insecure plugin path: " + gw + "/bin/v1 is writable by its group (mode 0775), so they could change the code the worker runs; run chmod go-w " +
			gw + "/bin/v1",
		"in": "",
	}
	got := map[string]string{}
	for _, lp := range m.Loaded() {
		got[lp.Name] = lp.Error
		if (lp.Error == "") != (lp.Status == plugins.StatusLoaded) {
			t.Errorf("%s: status %s with error %q", lp.Name, lp.Status, lp.Error)
		}
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: error\n%q\nwant\n%q", name, g, w)
		}
	}
}

// TestPluginsDirAncestors: every directory above plugins.dir is checked up
// to /. One that others can write is refused; a sticky one that root owns
// (as /tmp) is allowed above plugins.dir but not as plugins.dir itself.
func TestPluginsDirAncestors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	wide := filepath.Join(base, "wide")
	dir := filepath.Join(wide, "plugins")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.Chmod(wide, 0o757))
	err := plugins.CheckDir(dir, os.Geteuid())
	want := "plugins: insecure plugin path: " + wide + " is writable by others (mode 0757), so they could change the code the worker runs; run chmod go-w " + wide
	if !errors.Is(err, plugins.ErrInsecure) || err.Error() != want {
		t.Fatalf("CheckDir below a world-writable directory: %v\nwant %s", err, want)
	}
	// A link to it is no way around.
	link := filepath.Join(base, "link")
	must(t, os.Symlink(dir, link))
	if err := plugins.CheckDir(link, os.Geteuid()); err == nil || err.Error() != want {
		t.Fatalf("CheckDir of a link: %v\nwant %s", err, want)
	}
	m, err := plugins.NewManager(plugins.Options{Dir: link, Runtimes: runtimes()})
	must(t, err)
	if err := m.Run(t.Context()); err == nil || err.Error() != want {
		t.Fatalf("Run: %v\nwant %s", err, want)
	}

	if os.Geteuid() != 0 {
		t.Skip("the sticky-bit rule needs a directory owned by root")
	}
	must(t, os.Chmod(wide, 0o777|os.ModeSticky))
	if err := plugins.CheckDir(dir, 0); err != nil {
		t.Fatalf("CheckDir below a sticky directory of root: %v", err)
	}
	err = plugins.CheckDir(wide, 0)
	want = "plugins: insecure plugin path: " + wide + " is writable by group and others (mode 0777), so they could change the code the worker runs; run chmod go-w " + wide
	if err == nil || err.Error() != want {
		t.Fatalf("CheckDir of a sticky directory itself: %v\nwant %s", err, want)
	}
}

// TestEntrySwappedAfterCheck: an entry replaced after the Manager checked
// it does not run; its task fails (and is retried) until the Manager has
// checked the new file.
func TestEntrySwappedAfterCheck(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	script := "#!/bin/sh\necho checked > \"$(cat)\"\n"
	pd := writePlugin(t, dir, "swap", "name: swap\nversion: '1'\nruntime: exec\nentry: run.sh\ntask_types: {swap:run: {}}\n",
		map[string]string{"run.sh": script})
	reg := tasks.NewRegistry()
	// No reload during the test: the swapped file is never checked.
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg, ReloadDebounce: time.Hour})
	reg.SetResolver(m)
	out := filepath.Join(t.TempDir(), "out")
	if err := reg.ProcessTask(t.Context(), asynq.NewTask("swap:run", []byte(out))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "checked\n" {
		t.Fatalf("first run wrote %q", got)
	}
	must(t, os.Remove(out))

	// Replaced by rename, as a deploy (or an attacker racing one) would.
	writeFile(t, filepath.Join(pd, "run.sh"), []byte("#!/bin/sh\necho swapped > \"$(cat)\"\n"), 0o755)
	err := reg.ProcessTask(t.Context(), asynq.NewTask("swap:run", []byte(out)))
	want := "plugin swap 1: plugin entry changed after it was checked: " + pd + "/run.sh was replaced or modified since the worker checked it; the worker checks and loads the new file, and the task is retried"
	if !errors.Is(err, plugins.ErrEntryChanged) || err.Error() != want {
		t.Fatalf("task after the swap: %v\nwant %s", err, want)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the swapped file ran: %v", err)
	}
	// Rewritten in place (same inode) is caught too.
	must(t, os.WriteFile(filepath.Join(pd, "run.sh"), []byte(script), 0o755))
	if err := reg.ProcessTask(t.Context(), asynq.NewTask("swap:run", []byte(out))); !errors.Is(err, plugins.ErrEntryChanged) {
		t.Fatalf("task after an in-place rewrite: %v", err)
	}
}
