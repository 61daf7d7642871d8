package worker_test

import (
	"testing"

	"github.com/tuskq/tuskq/config"

	"github.com/tuskq/tuskq/tasks"
)

// A worker runs several asynq servers, each of which writes asynq's
// "Starting processing": with worker.wake poll, where they all start and
// stop with the worker, the worker's log has that line once, with the
// number of servers, and likewise asynq's shutdown lines. With push only
// the first server starts and stops with the worker (the spares follow
// the work and log asynq's warnings and errors only): once, without the
// number.
func TestOneAsynqStartLinePerWorker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wake    string
		servers any
	}{{config.WakePoll, float64(4)}, {config.WakePush, nil}} {
		t.Run(tc.wake, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config()
			cfg.Worker.Wake = tc.wake
			cfg.Worker.Concurrency = 8
			opts := e.options(t, cfg, tasks.NewRegistry())
			opts.Servers = 4
			r := start(t, opts)
			if _, err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			count := map[string][]map[string]any{}
			for _, l := range e.logs.records(t) {
				if l["component"] == "asynq" {
					msg, _ := l["msg"].(string)
					count[msg] = append(count[msg], l)
				}
			}
			for _, msg := range []string{"Starting processing", "Starting graceful shutdown", "Exiting"} {
				lines := count[msg]
				if len(lines) != 1 {
					t.Errorf("%d lines %q; want exactly one for the worker: %v", len(lines), msg, lines)
					continue
				}
				if lines[0]["servers"] != tc.servers {
					t.Errorf("line %q has servers=%v; want %v", msg, lines[0]["servers"], tc.servers)
				}
			}
		})
	}
}
