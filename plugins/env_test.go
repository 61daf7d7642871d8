package plugins_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// TestWorkerEnvRefused: a manifest that passes one of the worker's own
// TUSKQ_* variables (its secrets) through env fails to load, unless the
// worker's configuration allows that variable; then the plugin gets it.
func TestWorkerEnvRefused(t *testing.T) {
	t.Parallel()
	script := "#!/bin/sh\nprintf '%s|%s' \"$LANG\" \"$TUSKQ_REDIS_PASSWORD\" > \"$(cat)\"\n"
	manifest := "name: leak\nversion: '1'\nruntime: exec\nentry: run.sh\ntask_types: {leak:run: {}}\nenv: [LANG, TUSKQ_REDIS_PASSWORD]\n"
	environ := []string{"TUSKQ_REDIS_PASSWORD=hunter2", "LANG=C.UTF-8"}

	dir := pluginDir(t)
	pd := writePlugin(t, dir, "leak", manifest, map[string]string{"run.sh": script})
	reg := tasks.NewRegistry()
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg, Environ: environ, AllowEnv: []string{"TUSKQ_OTHER"}})
	reg.SetResolver(m)
	want := "plugins: " + pd + "/plugin.yaml: env: worker variable not allowed in a plugin's environment: TUSKQ_REDIS_PASSWORD is one of the worker's own variables, which hold its configuration and secrets; remove it from env, or let plugins receive it by listing it in the worker's plugins.allow_env"
	lp := loaded(m, "leak")
	if lp.Status != plugins.StatusFailed || lp.Error != want {
		t.Fatalf("status %s, error\n%q\nwant\n%q", lp.Status, lp.Error, want)
	}
	out := filepath.Join(t.TempDir(), "env")
	err := reg.ProcessTask(t.Context(), asynq.NewTask("leak:run", []byte(out)))
	if !errors.Is(err, plugins.ErrNotLoaded) || !errors.Is(err, plugins.ErrWorkerEnv) {
		t.Fatalf("task of the refused plugin: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused plugin ran: %v", err)
	}

	// Allowed by the worker's configuration: the plugin receives it.
	dir2 := pluginDir(t)
	writePlugin(t, dir2, "leak", manifest, map[string]string{"run.sh": script})
	reg2 := tasks.NewRegistry()
	m2 := startManager(t, plugins.Options{Dir: dir2, Registry: reg2, Environ: environ, AllowEnv: []string{"TUSKQ_REDIS_PASSWORD"}})
	reg2.SetResolver(m2)
	if lp := loaded(m2, "leak"); lp.Status != plugins.StatusLoaded {
		t.Fatalf("allowed: status %s, error %q", lp.Status, lp.Error)
	}
	if err := reg2.ProcessTask(t.Context(), asynq.NewTask("leak:run", []byte(out))); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != "C.UTF-8|hunter2" {
		t.Fatalf("plugin environment %q, %v; want C.UTF-8|hunter2", got, err)
	}
}
