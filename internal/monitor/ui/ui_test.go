package ui_test

import (
	"html/template"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/internal/monitor/ui"
)

func TestRenderWrapsBodyAndMarksActive(t *testing.T) {
	body, err := ui.Execute(template.Must(template.New("b").Parse(`<p id="x">{{.}}</p>`)), "<b>")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := ui.Render(rec, 200, ui.Page{Root: "/mon", Title: "Fleet", Active: "fleet", Body: body, JSON: "/api/v1/fleet"}); err != nil {
		t.Fatal(err)
	}
	got := rec.Body.String()
	for _, want := range []string{
		`<p id="x">&lt;b&gt;</p>`,
		`<a href="/mon/fleet" data-key="fleet" title="Fleet" class="active" aria-current="page">`,
		`<a href="/mon/" data-key="queues" title="Queues">`,
		`<a href="/mon/servers" data-key="servers" title="Servers">`,
		`<a href="/mon/limits" data-key="limits" title="Limits">`,
		`<title>Fleet - tuskq monitor</title>`,
		`<nav id="tuskq-nav"`,
		`<a id="json-link" href="/mon/api/v1/fleet">JSON</a>`,
		`localStorage.getItem("asynqmon:state")`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, `class="active"`); n != 1 {
		t.Errorf("%d active entries, want 1", n)
	}
	if strings.Contains(got, "http-equiv") || strings.Contains(got, `data-refresh="`) {
		t.Error("a page without Refresh must not reload")
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	rec = httptest.NewRecorder()
	if err := ui.Render(rec, 503, ui.Page{Title: "Limits", Refresh: 5}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Body.String(); rec.Code != 503 || !strings.Contains(got, `data-refresh="5"`) || !strings.Contains(got, `<noscript><meta http-equiv="refresh" content="5"></noscript>`) {
		t.Errorf("refreshing page: %d\n%s", rec.Code, got)
	}
}

func TestAsynqmonNavListsTuskqPagesOnly(t *testing.T) {
	got := string(ui.AsynqmonNav("/ops"))
	for _, want := range []string{`"path":"/fleet"`, `"path":"/schedules"`, `"path":"/limits"`, `root="/ops"`, `ul.MuiList-root`, `#tuskq-nav`} {
		if !strings.Contains(got, want) {
			t.Errorf("snippet lacks %s:\n%s", want, got)
		}
	}
	// asynqmon's own views are not repeated in its drawer.
	if strings.Contains(got, `"key":"queues"`) || strings.Contains(got, `"key":"settings"`) {
		t.Errorf("snippet repeats asynqmon's entries:\n%s", got)
	}
	// A root path cannot break out of the script.
	if got := string(ui.AsynqmonNav(`/a"</script><b>`)); strings.Contains(got, `</script><b>`) {
		t.Errorf("root path not escaped:\n%s", got)
	}
}

func TestBarAndSparkline(t *testing.T) {
	bar := string(ui.Bar(3, 4, "3 / 4"))
	if !strings.Contains(bar, `<rect width="90" height="8" rx="4" fill="var(--primary)"/>`) || !strings.Contains(bar, `<span>3 / 4</span>`) {
		t.Errorf("bar 3/4: %s", bar)
	}
	if full := string(ui.Bar(5, 4, "")); !strings.Contains(full, `width="120" height="8" rx="4" fill="var(--err)"`) {
		t.Errorf("bar over capacity: %s", full)
	}
	if empty := string(ui.Bar(0, 0, "<x>")); strings.Contains(empty, "var(--primary)") || !strings.Contains(empty, "&lt;x&gt;") {
		t.Errorf("bar without capacity: %s", empty)
	}
	sp := string(ui.Sparkline([]float64{0, 5, 10}))
	m := regexp.MustCompile(`points="([^"]+)"`).FindStringSubmatch(sp)
	if m == nil || m[1] != "2,22 60,12 118,2" {
		t.Errorf("sparkline: %s", sp)
	}
	if !strings.Contains(sp, `stroke="var(--spark)"`) || !strings.Contains(string(ui.SparklineIn([]float64{1, 2}, ui.Danger)), `stroke="var(--err)"`) ||
		!strings.Contains(string(ui.SparklineIn([]float64{1, 2}, `"><script>`)), `stroke="var(--spark)"`) {
		t.Errorf("sparkline colours: %s", sp)
	}
	if ui.Sparkline([]float64{1}) != "" {
		t.Error("a sparkline of one value should be empty")
	}
}
