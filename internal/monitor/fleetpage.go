package monitor

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/tuskq/tuskq/internal/monitor/ui"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// maxPluginColumns bounds the plugin columns of the fleet table: with more
// plugins, each worker's plugins are listed in one column instead.
const maxPluginColumns = 8

// fleetView is what the fleet page's template reads.
type fleetView struct {
	Root     string
	Report   FleetReport
	Warnings []string
	Error    string
	Now      time.Time
	Refresh  int
	// Columns are the plugin names that get a version column, empty when
	// there are none or more than maxPluginColumns.
	Columns []string
	// Published maps a plugin to its published version.
	Published map[string]string
	// Limits are the fleet limits with their use (the limits page in
	// short); nil when none is set or they could not be read.
	Limits []LimitReport
}

// pluginPair is what the "plugin" template draws: a version on a worker
// and the published versions.
type pluginPair struct {
	P         fleetstate.PluginReport
	Published map[string]string
}

// pluginCell is one worker's versions of one plugin.
type pluginCell []fleetstate.PluginReport

// fleetPage serves GET <root>/fleet: the report on the monitor's shell.
func (h *Handler) fleetPage(w http.ResponseWriter, r *http.Request) {
	rep, err := h.fleetReport(r.Context())
	v := fleetView{Root: h.rootPath, Report: rep, Warnings: orphanWarnings(rep.Queues), Now: h.now(), Refresh: 10, Published: map[string]string{}}
	code := http.StatusOK
	if err != nil {
		h.logger.WarnContext(r.Context(), "fleet report failed", "error", err)
		v.Error = err.Error()
		code = http.StatusServiceUnavailable
	}
	for _, p := range rep.Plugins {
		if p.Published != "" {
			v.Published[p.Name] = p.Published
		}
	}
	if err == nil {
		if lr, lerr := h.limitsReport(r.Context()); lerr == nil {
			v.Limits = lr.Limits
		} else {
			h.logger.WarnContext(r.Context(), "limits report failed", "error", lerr)
		}
	}
	if len(rep.Plugins) <= maxPluginColumns {
		for _, p := range rep.Plugins {
			v.Columns = append(v.Columns, p.Name)
		}
	}
	h.render(w, r, code, ui.Page{Title: "Fleet", Active: "fleet", Refresh: v.Refresh, JSON: PathFleetAPI}, h.fleetTmpl, v)
}

// render executes t with data and writes it in the shell; a template
// that fails is logged and answered 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, p ui.Page, t *template.Template, data any) {
	p.Root = h.rootPath
	body, err := ui.Execute(t, data)
	if err != nil {
		h.logger.ErrorContext(r.Context(), "rendering a monitor page", "page", p.Title, "error", err)
		http.Error(w, "monitor: the page could not be rendered; see the monitor's log", http.StatusInternalServerError)
		return
	}
	p.Body = body
	if err := ui.Render(w, code, p); err != nil {
		h.logger.WarnContext(r.Context(), "writing a monitor page", "page", p.Title, "error", err)
	}
}

// pageFuncs are the template functions of the monitor's pages.
func pageFuncs() template.FuncMap {
	f := ui.Funcs()
	f["age"] = func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now.Sub(t).Truncate(time.Second).String()
	}
	f["queues"] = func(q map[string]int) []string {
		names := slices.SortedFunc(maps.Keys(q), func(a, b string) int { return cmp.Or(cmp.Compare(q[b], q[a]), cmp.Compare(a, b)) })
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = fmt.Sprintf("%s=%d", n, q[n])
		}
		return out
	}
	f["pair"] = func(p fleetstate.PluginReport, published map[string]string) pluginPair {
		return pluginPair{P: p, Published: published}
	}
	f["floats"] = func(v []int) []float64 {
		out := make([]float64, len(v))
		for i, n := range v {
			out[i] = float64(n)
		}
		return out
	}
	f["last"] = func(v []int) int {
		if len(v) == 0 {
			return 0
		}
		return v[len(v)-1]
	}
	f["ratio"] = func(a, b int) string { return fmt.Sprintf("%d / %d", a, b) }
	f["float"] = func(n int) float64 { return float64(n) }
	f["cell"] = func(w FleetWorker, plugin string) pluginCell {
		if w.Tuskq == nil {
			return nil
		}
		var c pluginCell
		for _, p := range w.Tuskq.Plugins {
			if p.Name == plugin {
				c = append(c, p)
			}
		}
		return c
	}
	// chip is the class of a plugin version's chip: failed, disabled, not
	// the published version, or fine.
	f["chip"] = func(p fleetstate.PluginReport, published map[string]string) string {
		switch {
		case p.Status == fleetstate.StatusFailed:
			return "chip err"
		case p.Status == fleetstate.StatusDisabled:
			return "chip"
		case published[p.Name] != "" && published[p.Name] != p.Version:
			return "chip warn"
		}
		return "chip ok"
	}
	return f
}

// newFleetTemplate parses the fleet page's body. Handler keeps one:
// templates are safe for concurrent use.
func newFleetTemplate() *template.Template {
	return template.Must(template.New("fleet").Funcs(limitFuncs()).Parse(fleetHTML))
}

const fleetHTML = `{{if .Error}}<p class="alert err" id="fleet-error">{{.Error}}</p>{{else}}
<div class="cards">
<div class="card"><div class="label">Worker processes</div><div class="stat" id="stat-workers">{{.Report.Totals.Workers}}</div></div>
<div class="card"><div class="label">Busy</div><div class="stat">{{.Report.Totals.ActiveTasks}} <small>of {{.Report.Totals.Concurrency}}</small></div>{{bar (float .Report.Totals.ActiveTasks) (float .Report.Totals.Concurrency) ""}}</div>
<div class="card"><div class="label">Orphaned tasks</div><div class="stat">{{.Report.Totals.OrphanedTasks}}</div></div>
<div class="card"><div class="label">Plugins</div><div class="stat">{{len .Report.Plugins}}</div></div>
</div>
<p id="fleet-totals">{{.Report.Totals.Workers}} worker processes, concurrency {{.Report.Totals.Concurrency}}, {{.Report.Totals.ActiveTasks}} active tasks. <span class="muted">Refreshes every {{.Refresh}}s.</span></p>
{{range .Warnings}}<p class="warn orphaned">{{.}}</p>
{{end}}<div class="card"><h2>Workers</h2>
{{if .Report.Workers}}<table id="fleet">
<thead><tr><th>Host</th><th class="num">PID</th><th>Status</th><th>Up</th><th>Active / concurrency</th><th>Queues</th>{{if .Columns}}{{range .Columns}}<th class="plugin-col">{{.}}{{with index $.Published .}} <span class="muted" title="published version">({{.}})</span>{{end}}</th>{{end}}{{else}}<th>Plugins</th>{{end}}</tr></thead>
<tbody>
{{range $w := .Report.Workers}}<tr>
<td>{{.Host}}</td><td class="num">{{.PID}}</td><td>{{.Status}}</td><td>{{age $.Now .Started}}</td>
<td class="busy">{{bar (float .ActiveTasks) (float .Concurrency) (ratio .ActiveTasks .Concurrency)}}</td>
<td>{{range queues .Queues}}{{.}} {{end}}{{if .StrictPriority}}<span class="muted">(strict)</span>{{end}}</td>
{{if $.Columns}}{{range $.Columns}}<td class="version">{{range cell $w .}}{{template "plugin" (pair . $.Published)}}{{else}}<span class="muted">-</span>{{end}}</td>{{end}}
{{else}}{{if .Tuskq}}<td>{{if not .Tuskq.Plugins}}<span class="muted">none</span>{{else}}<ul class="plain">{{range .Tuskq.Plugins}}<li>{{.Name}} {{template "plugin" (pair . $.Published)}}</li>{{end}}</ul>{{end}}</td>
{{else}}<td class="muted">no plugins reported</td>{{end}}{{end}}
</tr>
{{end}}</tbody>
</table>
{{else}}<p id="fleet-empty">No worker process has a live heartbeat in this Redis.</p>{{end}}
</div>
{{if .Report.Queues}}<div class="card"><h2>Queues</h2>
<table id="queues">
<thead><tr><th>Queue</th><th class="num">Workers serving</th><th class="num">Orphaned</th><th>Processed, last 7 days</th><th>Failed, last 7 days</th></tr></thead>
<tbody>
{{range .Report.Queues}}<tr data-queue="{{.Queue}}"><td><a href="{{$.Root}}/queues/{{.Queue}}">{{.Queue}}</a></td>
<td class="num">{{if .Workers}}{{.Workers}}{{else}}<span class="chip err" title="no worker process lists this queue: its tasks wait">none</span>{{end}}</td>
<td class="num">{{.Orphaned}}</td>
<td>{{spark (floats .Processed)}} {{last .Processed}} today</td>
<td>{{sparkErr (floats .Failed)}} {{last .Failed}} today</td></tr>
{{end}}</tbody>
</table>
</div>{{end}}
{{if .Limits}}<div class="card"><h2>Limits</h2>
<table id="fleet-limits">
<thead><tr><th>Limit</th><th>Slots in use</th><th>Rate</th><th class="num">Deferred now</th></tr></thead>
<tbody>
{{range .Limits}}<tr data-limit="{{.Limit.Name}}"><td><a href="{{$.Root}}/limits">{{.Limit.Name}}</a></td>
<td>{{if .Limit.Concurrency}}{{slotsBar .}}{{else}}<span class="muted">-</span>{{end}}</td>
<td>{{if .Limit.Rate}}{{rateBar .}}{{else}}<span class="muted">-</span>{{end}}</td>
<td class="num">{{with deferred .}}<span class="chip warn">{{.}}</span>{{else}}0{{end}}</td></tr>
{{end}}</tbody>
</table>
</div>{{end}}
{{if .Report.Plugins}}<div class="card"><h2>Plugin versions</h2>
<table id="plugins">
<thead><tr><th>Plugin</th><th>Published</th><th>Versions running</th><th class="num">Workers behind</th></tr></thead>
<tbody>
{{range .Report.Plugins}}<tr><td>{{.Name}}</td><td>{{or .Published "-"}}</td>
<td>{{range .Versions}}<span class="chip{{if .Failed}} err{{end}}">{{.Version}}: {{.Loaded}} loaded{{if .Failed}}, {{.Failed}} failed{{end}}{{if .Disabled}}, {{.Disabled}} disabled{{end}}</span> {{end}}</td>
<td class="num">{{if .Published}}{{.Behind}}{{else}}-{{end}}</td></tr>
{{end}}</tbody>
</table>
<p class="muted">A version column per plugin in the workers' table: green runs, orange is not the published version, red failed to load (hover for the error).</p>
</div>{{end}}
{{end}}
{{define "plugin"}}{{with .P}}<span class="{{chip . $.Published}}" title="{{.Runtime}} {{.Status}}{{if .Error}}: {{.Error}}{{end}}">{{.Version}}</span> <span class="muted">({{.Runtime}})</span> {{.Status}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}} {{end}}{{end}}`
