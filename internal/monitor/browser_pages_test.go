package monitor

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/monitor/ui"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// tuskqPages are the pages this package serves, by navigation key, with
// an element each shows once its data is in.
var tuskqPages = []struct{ key, ready string }{
	{"fleet", "#fleet"},
	{"schedules", "#schedules"},
	{"limits", "#limits"},
}

// TestBrowserOneNavigation: asynqmon's drawer gets tuskq's entries and
// tuskq's pages get asynqmon's; every entry leads somewhere; each page of
// both halves is photographed (see screenshot), in the light theme and the
// fleet page in the dark one chosen in asynqmon's settings; the menu
// button folds both drawers alike; without asynqmon's drawer the entries
// still show, as a floating bar.
func TestBrowserOneNavigation(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "reports", 7)
	enqueue(t, srv.Addr(), "emails", 5)
	release := make(chan struct{})
	defer close(release)
	startWorker(t, srv.Addr(), release)
	seedPages(t, srv.Addr())

	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/ops", Limits: []limits.Limit{{Name: "reports", Type: "report:*", Concurrency: 2}}})
	base := ts.URL + "/ops"

	// asynqmon's home: its drawer has tuskq's entries after its own.
	step(t, ctx, "open asynqmon", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.MuiDrawer-paper #tuskq-nav a[data-key="fleet"]`)))
	await(t, ctx, "queues drawn", `document.body.innerText.includes("reports")`)
	var want []string
	for _, it := range ui.Nav() {
		if it.Section == ui.SectionTuskq {
			want = append(want, it.Key)
		}
	}
	got := eval[[]string](t, ctx, `[...document.querySelectorAll(".MuiDrawer-paper #tuskq-nav a")].map(a => a.dataset.key)`)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("asynqmon's drawer has tuskq entries %v, want %v", got, want)
	}
	// Below asynqmon's own entries, inside the same list.
	if below := eval[bool](t, ctx, `(() => { const n = document.getElementById("tuskq-nav"), own = n.parentElement.querySelector("a[href$='/redis']");
		return !!own && n.parentElement.matches("ul.MuiList-root") && !!(own.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING) })()`); !below {
		t.Error("tuskq's entries are not after asynqmon's own in its drawer's list")
	}
	checkLinks(t, ctx, "asynqmon", `.MuiDrawer-paper #tuskq-nav a`)
	screenshot(t, ctx, "asynqmon-home.png")

	// From asynqmon's drawer to each tuskq page, and each page's drawer.
	for _, p := range tuskqPages {
		step(t, ctx, "asynqmon to "+p.key, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#tuskq-nav a[data-key="`+p.key+`"]`)),
			chromedp.Click(chromedp.CSS(`#tuskq-nav a[data-key="`+p.key+`"]`)), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		if path := eval[string](t, ctx, `location.pathname`); path != "/ops/"+p.key {
			t.Errorf("%s entry led to %s", p.key, path)
		}
		if active := eval[string](t, ctx, `document.querySelector("#tuskq-nav a.active").dataset.key`); active != p.key {
			t.Errorf("page %s highlights %s", p.key, active)
		}
		keys := eval[[]string](t, ctx, `[...document.querySelectorAll("#tuskq-nav a")].map(a => a.dataset.key)`)
		for _, k := range []string{"queues", "servers", "schedulers", "redis", "fleet", "schedules", "limits", "settings"} {
			if !strings.Contains(","+strings.Join(keys, ",")+",", ","+k+",") {
				t.Errorf("page %s: its drawer lacks %s (has %v)", p.key, k, keys)
			}
		}
		checkLinks(t, ctx, p.key, `#tuskq-nav a`)
		screenshot(t, ctx, p.key+".png")
	}
	text := eval[string](t, ctx, `document.getElementById("limits").innerText`)
	if !strings.Contains(text, "reports") || !strings.Contains(text, "1 / 2") {
		t.Errorf("limits table:\n%s", text)
	}

	// Back to asynqmon from a tuskq page: its Servers view.
	step(t, ctx, "tuskq page to asynqmon's servers", chromedp.Click(chromedp.CSS(`#tuskq-nav a[data-key="servers"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.MuiDrawer-paper #tuskq-nav`)))
	if path := eval[string](t, ctx, `location.pathname`); path != "/ops/servers" {
		t.Errorf("servers entry led to %s", path)
	}

	// asynqmon's dark theme setting applies to tuskq's pages.
	eval[bool](t, ctx, `(() => { const s = JSON.parse(localStorage.getItem("asynqmon:state") || "{}"); s.settings = {...(s.settings || {}), themePreference: 1};
		localStorage.setItem("asynqmon:state", JSON.stringify(s)); return true })()`)
	step(t, ctx, "fleet page, dark", chromedp.Navigate(base+"/fleet"), chromedp.WaitVisible(chromedp.CSS("#fleet")))
	if theme := eval[string](t, ctx, `document.documentElement.dataset.theme + " " + getComputedStyle(document.body).backgroundColor`); theme != "dark rgb(66, 66, 66)" {
		t.Errorf("fleet page with asynqmon's dark theme: %q", theme)
	}
	screenshot(t, ctx, "fleet-dark.png")

	// The menu button folds the drawer, and asynqmon's drawer with it.
	step(t, ctx, "fold the drawer", chromedp.Click(chromedp.CSS("#tuskq-menu")))
	await(t, ctx, "the drawer folded", `document.getElementById("tuskq-nav").getBoundingClientRect().width < 100`)
	step(t, ctx, "asynqmon, folded", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.MuiDrawer-paper #tuskq-nav`)))
	await(t, ctx, "asynqmon's drawer folded too", `document.querySelector(".MuiDrawer-paper").getBoundingClientRect().width < 100`)
	if n := eval[int](t, ctx, `document.querySelectorAll("#tuskq-nav a").length`); n != len(want) {
		t.Errorf("folded asynqmon drawer has %d tuskq entries, want %d", n, len(want))
	}
	screenshot(t, ctx, "asynqmon-dark-folded.png")

	// An asynqmon whose drawer is not where the script looks for it: the
	// entries appear as a bar on the page instead, after 10 s.
	page := "<!DOCTYPE html><html><body><p>no drawer here</p>" + string(ui.AsynqmonNav("/ops")) + "</body></html>"
	step(t, ctx, "a page without asynqmon's drawer", chromedp.Navigate("data:text/html;charset=utf-8,"+url.PathEscape(page)))
	await(t, ctx, "the entries as a floating bar", `!!document.querySelector("body > #tuskq-nav.tuskq-float")`)
	if n := eval[int](t, ctx, `document.querySelectorAll("#tuskq-nav a").length`); n != len(want) {
		t.Errorf("floating bar has %d entries, want %d", n, len(want))
	}
}

// await polls the JavaScript condition cond until it holds, and fails the
// test when it does not within 20 s.
func await(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	step(t, ctx, what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
		return err
	}))
}

// checkLinks fetches every link matched by sel from the page and fails
// the test for one that does not answer 200 with HTML.
func checkLinks(t *testing.T, ctx context.Context, page, sel string) {
	t.Helper()
	bad := eval[[]string](t, ctx, fmt.Sprintf(`Promise.all([...document.querySelectorAll(%q)].map(a => fetch(a.href).then(r =>
		r.ok && (r.headers.get("Content-Type") || "").startsWith("text/html") ? "" : a.href + " " + r.status))).then(v => v.filter(Boolean))`, sel))
	if len(bad) > 0 {
		t.Errorf("%s: broken links %v", page, bad)
	}
	if n := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)); n < 3 {
		t.Errorf("%s: %d links match %s", page, n, sel)
	}
}

// seedPages gives the tuskq pages something to show: a plugin on the
// worker, a limit's slot in use and two schedules.
func seedPages(t *testing.T, addr string) {
	t.Helper()
	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	state, err := fleetstate.Open(context.WithoutCancel(ctx), rdb, fleetstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close(context.WithoutCancel(ctx)) })
	if err := state.ReportPlugins(ctx, []fleetstate.PluginReport{{Name: "thumbnail", Version: "1.4.2", Runtime: "process", Status: "loaded"}}); err != nil {
		t.Fatal(err)
	}
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, "{tuskq:limit:reports}:slots:", redis.Z{Score: float64(now.UnixMilli() + 600000), Member: "live"})
	store := scheduler.NewStore(rdb)
	for name, js := range map[string]string{
		"heartbeat": `{"cron":"@every 30s","type":"ops:beat"}`,
		"nightly":   `{"cron":"0 30 2 * * *","time_zone":"Europe/Paris","type":"report:nightly","queue":"low"}`,
	} {
		s, ps := schedule.Decode(name, []byte(js), "")
		if len(ps) > 0 {
			t.Fatal(ps)
		}
		if _, err := store.Put(ctx, s, scheduler.SourceAPI); err != nil {
			t.Fatal(err)
		}
	}
}
