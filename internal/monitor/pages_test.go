package monitor

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// row returns the table row of page whose data attribute attr is name.
func row(t *testing.T, page, attr, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `<tr `+attr+`="`+name+`">`)
	if !ok {
		t.Fatalf("no row %s=%s in\n%s", attr, name, page)
	}
	r, _, _ := strings.Cut(rest, "</tr>")
	return r
}

// TestLimitsPageAndAPI: each effective limit is listed with its use:
// live slots against the capacity (a dead worker's expired lease not
// counted), the tasks waiting for a slot, the starts a rate has given out
// ahead and the tasks it deferred.
func TestLimitsPageAndAPI(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t).Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := t.Context()
	c := noRedirect()

	empty := serve(t, Options{Redis: redisAt(addr)})
	if _, page := do(t, c, http.MethodGet, empty.URL+"/limits", nil); !strings.Contains(page, `<p id="limits-empty">`) {
		t.Errorf("limits page without limits:\n%s", page)
	}

	configured := []limits.Limit{{Name: "reports", Type: "report:*", Concurrency: 2}}
	if err := limits.NewStore(rdb).Set(ctx, limits.Limit{Name: "calls", Queue: "api", Rate: limits.Rate{N: 1, Per: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	// As the limiter's scripts leave them (internal/limits): one live
	// slot and a dead worker's, three tasks waiting for a slot; starts
	// booked half a minute ahead and two tasks deferred a minute apart
	// after them.
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	ms := now.UnixMilli()
	rdb.ZAdd(ctx, "{tuskq:limit:reports}:slots:", redis.Z{Score: float64(ms + 60000), Member: "live"}, redis.Z{Score: float64(ms - 1000), Member: "dead"})
	rdb.ZAdd(ctx, "{tuskq:limit:reports}:waiters:", redis.Z{Score: 1, Member: "default\na"}, redis.Z{Score: 2, Member: "default\nb"}, redis.Z{Score: 3, Member: "default\nc"})
	rdb.HSet(ctx, "{tuskq:limit:calls}:rate:", "tat", strconv.FormatInt(ms+30000, 10), "dtat", strconv.FormatInt(ms+150000, 10))

	ts := serve(t, Options{Redis: redisAt(addr), RootPath: "/ops", Limits: configured})
	resp, body := do(t, c, http.MethodGet, ts.URL+"/ops/api/v1/limits", nil)
	var rep LimitsReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil || resp.StatusCode != http.StatusOK || len(rep.Limits) != 2 {
		t.Fatalf("limits API: %d %v %s", resp.StatusCode, err, body)
	}
	calls, reports := rep.Limits[0], rep.Limits[1]
	if reports.Limit.Name != "reports" || reports.Source != limits.SourceConfig || reports.Usage != (limits.Usage{InUse: 1, Waiting: 3}) {
		t.Errorf("reports %+v", reports)
	}
	if calls.Limit.Name != "calls" || calls.Source != limits.SourceOverride || calls.Limit.Rate != "1/m" || calls.Usage.RateDeferred != 2 ||
		calls.Usage.RateBooked < 20*time.Second || calls.Usage.RateBooked > 30*time.Second || calls.RatePerSecond != 1.0/60 {
		t.Errorf("calls %+v", calls)
	}

	resp, page := do(t, c, http.MethodGet, ts.URL+"/ops/limits", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ops/limits: %d", resp.StatusCode)
	}
	r := row(t, page, "data-limit", "reports")
	for _, want := range []string{`type <code>report:*</code>`, `<td>config</td>`, `aria-label="1 / 2"`, `<span>1 / 2</span>`, `<td class="num deferred"><span class="chip warn">3</span></td>`} {
		if !strings.Contains(r, want) {
			t.Errorf("reports row lacks %s:\n%s", want, r)
		}
	}
	r = row(t, page, "data-limit", "calls")
	for _, want := range []string{`queue <code>api</code>`, `<td>override</td>`, `<code>1/m</code>`, `aria-label="1 of 1 booked (`, `rx="4" fill="var(--primary)"/>`, `<span class="chip warn">2</span>`} {
		if !strings.Contains(r, want) {
			t.Errorf("calls row lacks %s:\n%s", want, r)
		}
	}
	// The fleet page has them in short.
	_, fleet := do(t, c, http.MethodGet, ts.URL+"/ops/fleet", nil)
	if r := row(t, fleet, "data-limit", "reports"); !strings.Contains(r, `<span>1 / 2</span>`) || !strings.Contains(r, `<span class="chip warn">3</span>`) {
		t.Errorf("fleet page's limits row:\n%s", r)
	}
	if !strings.Contains(page, `<a href="/ops/limits" data-key="limits" title="Limits" class="active" aria-current="page">`) ||
		!strings.Contains(page, `<a id="json-link" href="/ops/api/v1/limits">JSON</a>`) {
		t.Errorf("limits page lacks its navigation or JSON link:\n%s", page)
	}
}

// TestSchedulesPageAndAPI: each schedule is listed with its spec, task,
// state and ticks; a paused one says so, and one whose next tick is past
// its grace with no scheduler to handle it is late.
func TestSchedulesPageAndAPI(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	store := scheduler.NewStore(rdb)
	put := func(name, js string) {
		s, ps := schedule.Decode(name, []byte(js), "")
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if _, err := store.Put(t.Context(), s, scheduler.SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
	put("beat", `{"cron":"@every 1s","type":"ops:beat"}`)
	put("nightly", `{"cron":"0 30 2 * * *","time_zone":"Europe/Paris","type":"report:nightly","queue":"low"}`)
	if err := store.Pause(t.Context(), "nightly"); err != nil {
		t.Fatal(err)
	}
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sched, err := scheduler.New(scheduler.Options{Client: client, Redis: rdb, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = sched.Run(sctx) }()
	testutil.Poll(t, 60*time.Second, "a first tick of beat", func() bool {
		e, err := store.Get(t.Context(), "beat", time.Now())
		return err == nil && !e.Run.IsZero()
	})
	stop()
	<-done

	// The monitor's clock, moved a minute on: beat's next tick is past
	// its grace and no scheduler runs.
	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/ops", Now: clock})
	c := noRedirect()
	get := func() SchedulesReport {
		resp, body := do(t, c, http.MethodGet, ts.URL+"/ops/api/v1/schedules", nil)
		var rep SchedulesReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil || resp.StatusCode != http.StatusOK || len(rep.Schedules) != 2 {
			t.Fatalf("schedules API: %d %v %s", resp.StatusCode, err, body)
		}
		return rep
	}
	rep := get()
	beat, nightly := rep.Schedules[0], rep.Schedules[1]
	if beat.Name != "beat" || beat.Spec != "@every 1s" || beat.Type != "ops:beat" || beat.Source != scheduler.SourceAPI || beat.Paused ||
		beat.LastRun.IsZero() || beat.Next.IsZero() || beat.Late {
		t.Errorf("beat %+v", beat)
	}
	if nightly.Name != "nightly" || !nightly.Paused || nightly.TimeZone != "Europe/Paris" || nightly.Queue != "low" || !nightly.LastRun.IsZero() || nightly.Late {
		t.Errorf("nightly %+v", nightly)
	}
	resp, page := do(t, c, http.MethodGet, ts.URL+"/ops/schedules", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ops/schedules: %d", resp.StatusCode)
	}
	r := row(t, page, "data-schedule", "beat")
	for _, want := range []string{`<code>@every 1s</code>`, `<code>ops:beat</code>`, `<span class="chip ok">active</span>`, ` ago</span>`, `<svg class="timeline"`} {
		if !strings.Contains(r, want) {
			t.Errorf("beat row lacks %s:\n%s", want, r)
		}
	}
	r = row(t, page, "data-schedule", "nightly")
	for _, want := range []string{`<span class="muted">Europe/Paris</span>`, `<code>report:nightly</code> <span class="muted">→ low</span>`, `<span class="chip">paused</span>`, `<span class="muted">never</span>`} {
		if !strings.Contains(r, want) {
			t.Errorf("nightly row lacks %s:\n%s", want, r)
		}
	}

	mu.Lock()
	offset = time.Minute
	mu.Unlock()
	if rep := get(); !rep.Schedules[0].Late || rep.Schedules[1].Late {
		t.Errorf("a minute later: beat late %v, nightly late %v; want true, false", rep.Schedules[0].Late, rep.Schedules[1].Late)
	}
	if _, page := do(t, c, http.MethodGet, ts.URL+"/ops/schedules", nil); !strings.Contains(row(t, page, "data-schedule", "beat"), `<span class="chip err"`) {
		t.Errorf("late schedule not marked:\n%s", page)
	}
}

// TestPagesWithRedisDown: with Redis unreachable, the schedules and limits
// pages answer 503 with the error on the shell, and their JSON 503 with
// {"error": ...}.
func TestPagesWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	var logs testutil.LogBuffer
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), Logger: logs.Logger(t, nil), Limits: []limits.Limit{{Name: "reports", Concurrency: 2}}})
	c := noRedirect()
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ page, api, id string }{
		{"/limits", "/api/v1/limits", "limits-error"},
		{"/schedules", "/api/v1/schedules", "schedules-error"},
	} {
		resp, page := do(t, c, http.MethodGet, ts.URL+p.page, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, `<p class="alert err" id="`+p.id+`">monitor: `) ||
			!strings.Contains(page, "connection refused") || !strings.Contains(page, `<nav id="tuskq-nav"`) {
			t.Errorf("GET %s with Redis down: %d\n%s", p.page, resp.StatusCode, page)
		}
		resp, body := do(t, c, http.MethodGet, ts.URL+p.api, nil)
		var e map[string]string
		if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e["error"], "connection refused") {
			t.Errorf("GET %s with Redis down: %d %s", p.api, resp.StatusCode, body)
		}
	}
}
