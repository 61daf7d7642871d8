package plugins_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// BenchmarkTaskOverhead measures what one task costs through the registry:
// a compiled-in processor against the same no-op in a process plugin (a
// long-lived Go child speaking JSON lines) and an exec plugin (a shell
// script per task). The difference to compiled-in is the runtime's
// overhead per task; docs/benchmarks.md reports it.
func BenchmarkTaskOverhead(b *testing.B) {
	dir := b.TempDir() + "/plugins"
	must(b, os.Mkdir(dir, 0o755))
	writePlugin(b, dir, "proc", testManifest("proc", "1", "  proc:noop: {}\n"), map[string]string{"testplugin": "@" + bins.testplugin})
	writePlugin(b, dir, "sh", "name: sh\nversion: '1'\nruntime: exec\nentry: run.sh\ntask_types: {sh:noop: {}}\n",
		map[string]string{"run.sh": "#!/bin/sh\necho '{\"ok\":true}'\n"})
	reg := tasks.NewRegistry()
	reg.MustRegister("go:noop", tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		var p map[string]any
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		_, err := json.Marshal(map[string]bool{"ok": true})
		return err
	}))
	m := startManager(b, plugins.Options{Dir: dir, Registry: reg})
	reg.SetResolver(m)
	payload := []byte(`{"mode":"noop","n":1}`)
	b.Run("raw-pipe", func(b *testing.B) { benchRawPipe(b, payload) })
	for _, bc := range []struct{ name, typ string }{
		{"compiled-in", "go:noop"},
		{"process", "proc:noop"},
		{"exec", "sh:noop"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			task := asynq.NewTask(bc.typ, payload)
			ctx := b.Context()
			for b.Loop() {
				if err := reg.ProcessTask(ctx, task); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRawPipe is the floor of the process runtime: the same child and
// request line, written and read back by hand with nothing around it.
func benchRawPipe(b *testing.B, payload []byte) {
	cmd := exec.Command(bins.testplugin)
	stdin, err := cmd.StdinPipe()
	must(b, err)
	stdout, err := cmd.StdoutPipe()
	must(b, err)
	must(b, cmd.Start())
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	r := bufio.NewReader(stdout)
	if _, err := r.ReadBytes('\n'); err != nil { // ready line
		b.Fatal(err)
	}
	line := append([]byte(`{"id":"1","task_id":"x","type":"proc:noop","headers":{},"queue":"default","config":{},"payload":`), payload...)
	line = append(line, "}\n"...)
	for b.Loop() {
		if _, err := stdin.Write(line); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadBytes('\n'); err != nil {
			b.Fatal(err)
		}
	}
}
