package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/tasks"
)

// TestInsightSnapshotPublished: a running worker publishes its per type
// and queue aggregates (attempts, failures, normalized error texts, task
// and trace IDs of failures, the plugin version) for the monitor, and
// removes them when it stops.
func TestInsightSnapshotPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	reg := tasks.NewRegistry()
	reg.MustRegister("ok", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error { return nil }))
	reg.MustRegister("bad", tasks.ProcessorFunc(func(context.Context, *asynq.Task) error {
		return errors.New("upstream 10.1.2.3:443 timed out after 30s")
	}))
	opts := e.options(t, e.config(), reg)
	opts.PluginVersion = func(typ string) string {
		if typ == "bad" {
			return "1.2.0"
		}
		return ""
	}
	w := start(t, opts)
	for range 5 {
		e.enqueue(t, ctx, "ok", nil)
	}
	for range 3 {
		e.enqueue(t, ctx, "bad", &tasks.EnqueueOptions{MaxRetry: maxRetry(0)})
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	store := insight.NewStore(rdb)
	var ok, bad *insight.SeriesSnapshot
	poll(t, "the worker's snapshot with every attempt", func() bool {
		snaps, err := store.Snapshots(ctx, time.Now(), time.Minute)
		if err != nil || len(snaps) != 1 {
			return false
		}
		ok, bad = nil, nil
		for i, s := range snaps[0].Series {
			switch s.Type {
			case "ok":
				ok = &snaps[0].Series[i]
			case "bad":
				bad = &snaps[0].Series[i]
			}
		}
		return ok != nil && bad != nil && ok.Attempts == 5 && bad.Failures == 3
	})
	if ok.Queue != "default" || ok.Failures != 0 || ok.Version != "" {
		t.Errorf("ok: %+v", ok)
	}
	if bad.Attempts != 3 || bad.Retries != 0 || bad.Version != "1.2.0" || len(bad.Errors) != 1 ||
		bad.Errors[0].Text != "upstream <ip> timed out after 30s" || bad.Errors[0].Count != 3 {
		t.Errorf("bad: %+v", bad)
	}
	if len(bad.Recent) != 3 || bad.Recent[0].TaskID == "" || len(bad.Recent[0].TraceID) != 32 {
		t.Errorf("bad's recent failures: %+v", bad.Recent)
	}
	if _, err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.HLen(ctx, insight.KeyWorkers).Result(); err != nil || n != 0 {
		t.Fatalf("after the stop: %d snapshots (%v), want none", n, err)
	}
}
