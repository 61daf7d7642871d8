// Package ui is the monitor's page shell: one layout and one navigation
// for every page tuskq adds beside asynqmon (fleet, schedules, limits,
// workflows, insight), so the monitor reads as one product.
//
// A page renders its own body (an html/template executed into a buffer)
// and hands it to Render with its title and navigation key; Render wraps
// it in the shared head, style sheet, app bar and side navigation.
//
// The shell copies asynqmon's look (Material UI, asynqmon v0.7): its app
// bar, its side drawer with the same entries and icons, its palette
// (primary #4379FF, secondary #97FBD1), Roboto, outlined cards and
// tables, and its dark theme. The theme and the drawer's state are read
// from asynqmon's own settings (localStorage "asynqmon:state"), so a
// choice made in asynqmon's Settings applies to tuskq's pages too, and
// the menu button folds both drawers alike. AsynqmonNav is the other half:
// the tuskq entries added to asynqmon's drawer.
//
// Charts are inline SVG made on the server (Bar, Sparkline): no script
// library, nothing fetched from elsewhere.
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
	// Refresh, when positive, reloads the page's content every Refresh
	// seconds (in place, while the tab is visible; a full reload without
	// JavaScript).
	Refresh int
	// Body is the page's content, already rendered and escaped.
	Body template.HTML
	// JSON, when set, is the path under Root of the page's data as JSON;
	// the page links to it beside its title.
	JSON string
}

// Sections of the navigation.
const (
	// SectionAsynqmon holds asynqmon's own views.
	SectionAsynqmon = "asynqmon"
	// SectionTuskq holds the pages tuskq adds.
	SectionTuskq = "tuskq"
	// SectionBottom holds the entries at the foot of the drawer, as
	// asynqmon places its Settings.
	SectionBottom = "bottom"
)

// NavItem is an entry of the navigation bar.
type NavItem struct {
	// Key identifies the item for Page.Active.
	Key string
	// Name is the link text.
	Name string
	// Path is the link under the root path.
	Path string
	// Section is SectionAsynqmon, SectionTuskq or SectionBottom.
	Section string
	// Icon is the d attribute of the item's 24×24 SVG icon.
	Icon string
}

// Nav returns the navigation bar's entries, in order. asynqmon's views
// come first, as in asynqmon's own drawer: it owns queues, tasks, servers
// and the scheduler view.
func Nav() []NavItem {
	return []NavItem{
		{Key: "queues", Name: "Queues", Path: "/", Section: SectionAsynqmon, Icon: iconQueues},
		{Key: "servers", Name: "Servers", Path: "/servers", Section: SectionAsynqmon, Icon: iconServers},
		{Key: "schedulers", Name: "Schedulers", Path: "/schedulers", Section: SectionAsynqmon, Icon: iconScheduler},
		{Key: "redis", Name: "Redis", Path: "/redis", Section: SectionAsynqmon, Icon: iconRedis},
		{Key: "fleet", Name: "Fleet", Path: "/fleet", Section: SectionTuskq, Icon: iconFleet},
		{Key: "schedules", Name: "Schedules", Path: "/schedules", Section: SectionTuskq, Icon: iconSchedules},
		{Key: "limits", Name: "Limits", Path: "/limits", Section: SectionTuskq, Icon: iconLimits},
		{Key: "workflows", Name: "Workflows", Path: "/workflows", Section: SectionTuskq, Icon: iconWorkflows},
		{Key: "insight", Name: "Insight", Path: "/insight", Section: SectionTuskq, Icon: iconInsight},
		{Key: "settings", Name: "Settings", Path: "/settings", Section: SectionBottom, Icon: iconSettings},
	}
}

// section returns the items of nav in section s.
func section(nav []NavItem, s string) []NavItem {
	var out []NavItem
	for _, it := range nav {
		if it.Section == s {
			out = append(out, it)
		}
	}
	return out
}

type layoutData struct {
	Page
	Asynqmon, Tuskq, Bottom []NavItem
	Menu                    string
}

// navLink is what the "item" template draws: one entry of the drawer.
type navLink struct {
	Root   string
	Item   NavItem
	Active bool
}

var layout = template.Must(template.New("layout").Funcs(template.FuncMap{
	"item": func(d layoutData, it NavItem) navLink {
		return navLink{Root: d.Root, Item: it, Active: it.Key == d.Active}
	},
}).Parse(layoutHTML))

// Render writes p inside the shared layout with status code. The body is
// rendered into a buffer first, so a failing template never leaves a
// half-written page behind a 200. The page is never cached: it shows live
// state.
func Render(w http.ResponseWriter, code int, p Page) error {
	var buf bytes.Buffer
	nav := Nav()
	d := layoutData{
		Page:     p,
		Asynqmon: section(nav, SectionAsynqmon),
		Tuskq:    section(nav, SectionTuskq),
		Bottom:   section(nav, SectionBottom),
		Menu:     iconMenu,
	}
	if err := layout.Execute(&buf, d); err != nil {
		return fmt.Errorf("ui: rendering %q: %w", p.Title, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
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
