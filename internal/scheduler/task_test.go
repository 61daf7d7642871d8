package scheduler_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/internal/testutil"
)

// The task of an on-time tick: the schedule's queue and headers plus the
// schedule's name and the tick, no missed-tick header, a retention of at
// least MinRetention (so its ID keeps refusing a second enqueue), and no
// delay without jitter; the replica counts it as enqueued.
func TestTickTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.store.Put(t.Context(), decode(t, "tt", `{"cron":"@every 1s","type":"t:tt","queue":"low","retention":"1m","headers":{"team":"ops"}}`), scheduler.SourceAPI); err != nil {
		t.Fatal(err)
	}
	scheds, stop := run(t, e, 1, scheduler.Options{})
	insp := e.client.Inspector()
	var info *asynq.TaskInfo
	testutil.Poll(t, 60*time.Second, "a tick's task", func() bool {
		infos, err := insp.ListPendingTasks("low")
		if err != nil || len(infos) == 0 {
			return false
		}
		info = infos[0]
		return true
	})
	stop()
	h := info.Headers
	if h["team"] != "ops" || h[schedule.HeaderSchedule] != "tt" || h[schedule.HeaderTick] == "" {
		t.Errorf("headers %v; want team, the schedule's name and the tick", h)
	}
	if _, ok := h[schedule.HeaderMissed]; ok {
		t.Errorf("headers %v: an on-time tick carries the missed-tick header", h)
	}
	if info.Retention < scheduler.MinRetention {
		t.Errorf("retention %s; want at least %s", info.Retention, scheduler.MinRetention)
	}
	if info.Type != "t:tt" || info.Queue != "low" {
		t.Errorf("task %s in %s; want t:tt in low", info.Type, info.Queue)
	}
	if st := scheds[0].Stats(); st.Enqueued < 1 || st.Duplicates != 0 {
		t.Errorf("stats %+v; want at least one enqueued, no duplicate", st)
	}
}
