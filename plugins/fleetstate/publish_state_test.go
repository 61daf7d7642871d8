package fleetstate_test

import (
	"encoding/json"
	"errors"
	"strings"
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

// TestPublishedWasmFollowsFleetState: a published wasm plugin is disabled,
// enabled and configured fleet-wide like any other: a disabled plugin's
// task is refused with ErrDisabled, and a config override reaches the
// guest (t.Config()).
func TestPublishedWasmFollowsFleetState(t *testing.T) {
	t.Parallel()
	module := probeModule(t)
	srv := redistest.Start(t)
	rt := wasm.New(wasm.Options{CacheDir: t.TempDir()})
	warmUp(t, rt, module)
	w := startPublishWorker(t, srv.Addr(), "w0", rt, nil)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	store := fleetstate.NewStore(rdb)
	manifest := "name: probe\nversion: 1.0.0\nruntime: wasm\nentry: bin/probe.wasm\nconfig:\n  greeting: Hello\ntask_types:\n  probe:version: {}\n  probe:configerr: {}\n"
	b, err := fleetstate.NewBundle([]byte(manifest), module, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Publish(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 2*time.Minute, "the worker running probe 1.0.0", func() bool { return w.version() == "1.0.0" })

	run := func(typ string) error {
		p, ok := w.mgr.Resolve(typ)
		if !ok {
			t.Fatalf("%s not served", typ)
		}
		return p.ProcessTask(t.Context(), asynq.NewTask(typ, nil))
	}
	if err := run("probe:configerr"); err == nil || !strings.Contains(err.Error(), `config {"greeting":"Hello"}`) {
		t.Fatalf("probe:configerr = %v; want the manifest's config", err)
	}
	if err := store.SetConfig(t.Context(), "probe", map[string]json.RawMessage{"greeting": json.RawMessage(`"Hi"`)}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, time.Minute, "the config override in the guest", func() bool {
		err := run("probe:configerr")
		return err != nil && strings.Contains(err.Error(), `config {"greeting":"Hi"}`)
	})

	if _, err := store.SetEnabled(t.Context(), "probe", false); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, time.Minute, "the published plugin disabled", func() bool { return errors.Is(run("probe:version"), plugins.ErrDisabled) })
	if _, err := store.SetEnabled(t.Context(), "probe", true); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, time.Minute, "the published plugin enabled again", func() bool { return run("probe:version") == nil })
}
