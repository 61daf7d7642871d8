// Package ui is the monitor's page shell: one layout and one navigation
// for every page tuskq adds beside asynqmon (fleet, schedules, limits,
// workflows, insight), so the monitor reads as one product.
//
// A page renders its own body (an html/template executed into a buffer)
// and hands it to Render with its title and navigation key; Render wraps
// it in the shared head, style sheet and navigation bar.
package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
)

// Page is one page of the monitor.
type Page struct {
	// Root is the monitor's root path ("" or "/monitor"); links are
	// built under it.
	Root string
	// Title is the page's heading and the document title's first part.
	Title string
	// Active is the Key of the navigation item to highlight.
	Active string
	// Refresh, when positive, reloads the page every Refresh seconds.
	Refresh int
	// Body is the page's content, already rendered and escaped.
	Body template.HTML
}

// NavItem is an entry of the navigation bar.
type NavItem struct {
	// Key identifies the item for Page.Active.
	Key string
	// Name is the link text.
	Name string
	// Path is the link under the root path.
	Path string
}

// Nav returns the navigation bar's entries, in order. asynqmon's UI is
// the first: it owns queues, tasks, servers and the scheduler view.
func Nav() []NavItem {
	return []NavItem{
		{Key: "queues", Name: "Queues", Path: "/"},
		{Key: "fleet", Name: "Fleet", Path: "/fleet"},
		{Key: "schedules", Name: "Schedules", Path: "/schedules"},
		{Key: "limits", Name: "Limits", Path: "/limits"},
		{Key: "workflows", Name: "Workflows", Path: "/workflows"},
		{Key: "insight", Name: "Insight", Path: "/insight"},
	}
}

type layoutData struct {
	Page
	Nav []NavItem
}

var layout = template.Must(template.New("layout").Parse(layoutHTML))

// Render writes p inside the shared layout with status code. The body is
// rendered into a buffer first, so a failing template never leaves a
// half-written page behind a 200.
func Render(w http.ResponseWriter, code int, p Page) error {
	var buf bytes.Buffer
	if err := layout.Execute(&buf, layoutData{Page: p, Nav: Nav()}); err != nil {
		return fmt.Errorf("ui: rendering %q: %w", p.Title, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, err := w.Write(buf.Bytes())
	return err
}

// Execute runs t with data and returns the result as a page body.
func Execute(t *template.Template, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("ui: rendering %s: %w", t.Name(), err)
	}
	// The template escaped its data: the result is safe HTML.
	return template.HTML(buf.String()), nil //nolint:gosec // produced by html/template
}

const layoutHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{{if gt .Refresh 0}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.Title}} - tuskq monitor</title>
<style>
body { font: 14px/1.4 Roboto, -apple-system, "Segoe UI", Arial, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #1565c0; color: #fff; display: flex; align-items: center; padding: 0 24px; height: 56px; }
header .brand { font-weight: 500; font-size: 18px; margin-right: 32px; }
header nav a { color: #e3f2fd; text-decoration: none; margin-right: 20px; padding: 18px 0; }
header nav a.active { color: #fff; border-bottom: 3px solid #fff; }
main { padding: 24px; }
table { border-collapse: collapse; margin-top: 16px; background: #fff; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.err { color: #b00020; }
.warn { color: #7a4a00; background: #fff4e0; border-left: 4px solid #e0a030; padding: 6px 10px; }
.muted { color: #777; }
ul { margin: 0; padding-left: 16px; }
</style>
</head>
<body>
<header><span class="brand">tuskq</span><nav>{{range .Nav}}<a href="{{$.Root}}{{.Path}}"{{if eq .Key $.Active}} class="active"{{end}}>{{.Name}}</a>{{end}}</nav></header>
<main>
<h1>{{.Title}}</h1>
{{.Body}}
</main>
</body>
</html>
`
