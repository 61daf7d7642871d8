package ui_test

import (
	"html/template"
	"net/http/httptest"
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
	if err := ui.Render(rec, 200, ui.Page{Root: "/mon", Title: "Fleet", Active: "fleet", Body: body}); err != nil {
		t.Fatal(err)
	}
	got := rec.Body.String()
	for _, want := range []string{
		`<p id="x">&lt;b&gt;</p>`,
		`<a href="/mon/fleet" class="active">Fleet</a>`,
		`<a href="/mon/">Queues</a>`,
		`<title>Fleet - tuskq monitor</title>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "http-equiv") {
		t.Error("a page without Refresh must not reload")
	}
}
