package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestOrphanedTasks makes a real orphan: a bare asynq server takes a task
// and blocks in its handler; the test then sets the task's lease in the
// past, as it is when the worker holding the task died. The monitor's
// metric, fleet JSON and fleet page must report it, as asynq's own
// Inspector does.
func TestOrphanedTasks(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 1)
	enqueue(t, srv.Addr(), "low", 1) // a queue nobody serves: pending, never orphaned

	opt, err := redisconn.ConnOpt(redisAt(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	release := make(chan struct{})
	asrv := asynq.NewServer(opt, asynq.Config{
		Concurrency:       1,
		Queues:            map[string]int{"emails": 1},
		TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout:   time.Second,
		Logger:            quietLogger{},
	})
	err = asrv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		started <- id
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(asrv.Shutdown)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, Shutdown is quick
	var id string
	select {
	case id = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the asynq server took no task within 10s")
	}

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ts := serve(t, Options{Redis: redisAt(srv.Addr())})
	c := noRedirect()

	fleet := func() FleetReport {
		resp, body := do(t, c, http.MethodGet, ts.URL+"/api/v1/fleet", nil)
		var rep FleetReport
		if err := json.Unmarshal([]byte(body), &rep); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET /api/v1/fleet: %d %v %s", resp.StatusCode, err, body)
		}
		return rep
	}
	get := func(path string) string {
		resp, body := do(t, c, http.MethodGet, ts.URL+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}

	// The task is active with a live lease: nothing is orphaned.
	none := []queueOrphanCount{{"emails", 0}, {"low", 0}}
	if rep := fleet(); !slices.Equal(orphansOf(rep.Queues), none) || rep.Totals.OrphanedTasks != 0 {
		t.Errorf("fleet before: queues %+v, totals %+v", rep.Queues, rep.Totals)
	}
	if page := get("/fleet"); strings.Contains(page, "orphaned") {
		t.Errorf("fleet page warns without orphans:\n%s", page)
	}
	m := get("/metrics")
	for _, want := range []string{`tuskq_orphaned_tasks{queue="emails"} 0` + "\n", `tuskq_orphaned_tasks{queue="low"} 0` + "\n",
		"# TYPE tuskq_orphaned_tasks gauge\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics before lacks %q", want)
		}
	}

	// The lease expired 10 s ago (not 30 s: asynq's own recoverer would
	// take it then). The server's heartbeat renews the lease every 5 s, so
	// each try sets it again and reads everything right after.
	const warning = `<p class="warn orphaned">1 orphaned task in queue emails: its worker stopped without finishing it; it is recovered automatically</p>`
	var last string
	try := func() bool {
		past := float64(time.Now().Add(-10 * time.Second).Unix())
		if err := rdb.ZAdd(t.Context(), "asynq:{emails}:lease", redis.Z{Score: past, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
		m := get("/metrics")
		rep := fleet()
		page := get("/fleet")
		active, err := insp.ListActiveTasks("emails")
		if err != nil {
			t.Fatal(err)
		}
		asynqSays := len(active) == 1 && active[0].ID == id && active[0].IsOrphaned
		metric := strings.Contains(m, `tuskq_orphaned_tasks{queue="emails"} 1`+"\n") && strings.Contains(m, `tuskq_orphaned_tasks{queue="low"} 0`+"\n")
		inJSON := slices.Equal(orphansOf(rep.Queues), []queueOrphanCount{{"emails", 1}, {"low", 0}}) && rep.Totals.OrphanedTasks == 1
		onPage := strings.Count(page, `class="warn orphaned"`) == 1 && strings.Contains(page, warning)
		last = "asynq's Inspector " + boolStr(asynqSays) + ", metric " + boolStr(metric) +
			", fleet JSON " + boolStr(inJSON) + ", fleet page " + boolStr(onPage)
		return asynqSays && metric && inJSON && onPage
	}
	deadline := time.Now().Add(10 * time.Second)
	for !try() {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan was not reported everywhere within 10s: %s", last)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

func boolStr(b bool) string {
	if b {
		return "ok"
	}
	return "missing"
}

func TestOrphanWarnings(t *testing.T) {
	t.Parallel()
	got := orphanWarnings([]FleetQueue{{Queue: "a", Orphaned: 2}, {Queue: "b"}, {Queue: "c", Orphaned: 1}})
	want := []string{
		"2 orphaned tasks in queue a: their worker stopped without finishing them; they are recovered automatically",
		"1 orphaned task in queue c: its worker stopped without finishing it; it is recovered automatically",
	}
	if !slices.Equal(got, want) {
		t.Errorf("orphanWarnings = %q\nwant %q", got, want)
	}
	if got := orphanWarnings([]FleetQueue{{Queue: "a"}}); got != nil {
		t.Errorf("orphanWarnings without orphans = %q", got)
	}
}

// queueOrphanCount is a queue of the fleet report and its orphaned tasks.
type queueOrphanCount struct {
	queue    string
	orphaned int64
}

// orphansOf projects the fleet report's queues to their orphaned tasks.
func orphansOf(qs []FleetQueue) []queueOrphanCount {
	out := make([]queueOrphanCount, len(qs))
	for i, q := range qs {
		out[i] = queueOrphanCount{q.Queue, q.Orphaned}
	}
	return out
}
