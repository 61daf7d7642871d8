package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// FleetReport is the body of GET <root>/api/v1/fleet: every worker process
// with a live asynq heartbeat.
type FleetReport struct {
	// Generated is when the report was made.
	Generated time.Time `json:"generated"`
	// Workers are the worker processes, sorted by host then pid.
	Workers []FleetWorker `json:"workers"`
	// Queues are the queues asynq knows (asynq:queues), sorted by name,
	// with their orphaned tasks.
	Queues []FleetQueue `json:"queues"`
	// Totals sums the workers and the orphaned tasks of the queues.
	Totals FleetTotals `json:"totals"`
	// Published are the plugins published to the fleet (worker plugins
	// publish), sorted by name: the current version and its digest, and
	// the version each reporting worker (by fleet-state ID, as
	// FleetTuskq.WorkerID) has loaded.
	Published []fleetstate.PublishedPlugin `json:"published"`
}

// FleetTotals sums a FleetReport.
type FleetTotals struct {
	// Workers is the number of worker processes.
	Workers int `json:"workers"`
	// Concurrency is the sum of their concurrency.
	Concurrency int `json:"concurrency"`
	// ActiveTasks is the number of tasks being processed.
	ActiveTasks int `json:"active_tasks"`
	// OrphanedTasks sums Queues' orphaned tasks.
	OrphanedTasks int64 `json:"orphaned_tasks"`
}

// FleetWorker is one worker process: what asynq records of it, and what
// tuskq publishes (internal/fleet) when it does.
type FleetWorker struct {
	// ID is asynq's server ID (of the first server, when the process runs
	// several).
	ID string `json:"id"`
	// Servers is how many asynq servers the process runs: a tuskq worker
	// runs several that share its concurrency (worker.Options.Servers).
	Servers int `json:"servers"`
	// Host and PID identify the process.
	Host string `json:"host"`
	// PID is the process ID on Host.
	PID int `json:"pid"`
	// Started is when the asynq server started.
	Started time.Time `json:"started"`
	// Status is asynq's server status: active, stopped (no new tasks
	// while shutting down) or closed.
	Status string `json:"status"`
	// Concurrency is how many tasks it processes at once.
	Concurrency int `json:"concurrency"`
	// Queues maps the queues it serves to their weight.
	Queues map[string]int `json:"queues"`
	// StrictPriority is true when it serves queues in strict order.
	StrictPriority bool `json:"strict_priority"`
	// ActiveTasks is len(Active).
	ActiveTasks int `json:"active_tasks"`
	// Active lists the tasks it is processing.
	Active []FleetTask `json:"active"`
	// Tuskq is what the worker publishes about itself; null when it does
	// not (a bare asynq server, or a worker that has not written yet).
	Tuskq *FleetTuskq `json:"tuskq"`
}

// FleetTask is a task being processed.
type FleetTask struct {
	// ID is the task ID.
	ID string `json:"id"`
	// Type is the task type.
	Type string `json:"type"`
	// Queue is the queue it came from.
	Queue string `json:"queue"`
	// Started is when processing started.
	Started time.Time `json:"started"`
	// Deadline is when the attempt times out.
	Deadline time.Time `json:"deadline"`
}

// FleetTuskq is what a tuskq worker with plugins publishes about itself
// (see package plugins/fleetstate).
type FleetTuskq struct {
	// WorkerID is its fleet-state identity, host:pid:uuid.
	WorkerID string `json:"worker_id"`
	// Updated is when it last published.
	Updated time.Time `json:"updated"`
	// Plugins lists every plugin version it loaded or failed to load.
	Plugins []fleetstate.PluginReport `json:"plugins"`
}

// fleetReport joins asynq's servers with what tuskq workers publish.
func (h *Handler) fleetReport(ctx context.Context) (FleetReport, error) {
	servers, err := h.inspector.Servers()
	if err != nil {
		return FleetReport{}, fmt.Errorf("monitor: list servers: %w", err)
	}
	now := h.now()
	reports, err := fleetstate.NewStore(h.rdb).Workers(ctx)
	if err != nil {
		return FleetReport{}, fmt.Errorf("monitor: %w", err)
	}
	bundles, err := fleetstate.NewStore(h.rdb).PublishedPlugins(ctx, reports)
	if err != nil {
		return FleetReport{}, fmt.Errorf("monitor: %w", err)
	}
	published := map[hostPID]fleetstate.WorkerReport{}
	for _, r := range reports {
		published[hostPID{r.Host, r.PID}] = r
	}
	queues, err := queueOrphans(ctx, h.inspector, h.rdb, now)
	if err != nil {
		return FleetReport{}, err
	}
	rep := FleetReport{Generated: now.UTC(), Workers: workerProcesses(servers), Queues: queues, Published: bundles}
	for _, q := range queues {
		rep.Totals.OrphanedTasks += q.Orphaned
	}
	for i := range rep.Workers {
		w := &rep.Workers[i]
		if p, ok := published[hostPID{w.Host, w.PID}]; ok {
			w.Tuskq = &FleetTuskq{WorkerID: p.Worker, Updated: p.UpdatedAt, Plugins: p.Plugins}
		}
		rep.Totals.Workers++
		rep.Totals.Concurrency += w.Concurrency
		rep.Totals.ActiveTasks += w.ActiveTasks
	}
	slices.SortFunc(rep.Workers, func(a, b FleetWorker) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.PID, b.PID), cmp.Compare(a.ID, b.ID))
	})
	return rep, nil
}

// hostPID identifies a worker process.
type hostPID struct {
	host string
	pid  int
}

// workerProcesses groups asynq's servers by process (host and pid): a tuskq
// worker runs several asynq servers, which together are one worker. The
// process is active when any of its servers is.
func workerProcesses(servers []*asynq.ServerInfo) []FleetWorker {
	byProc := map[hostPID]int{}
	out := make([]FleetWorker, 0, len(servers))
	for _, s := range servers {
		k := hostPID{s.Host, s.PID}
		i, ok := byProc[k]
		if !ok {
			i = len(out)
			byProc[k] = i
			out = append(out, FleetWorker{
				ID: s.ID, Host: s.Host, PID: s.PID, Started: s.Started.UTC(), Status: s.Status,
				Queues: s.Queues, StrictPriority: s.StrictPriority,
			})
		}
		w := &out[i]
		w.Servers++
		w.Concurrency += s.Concurrency
		w.Active = append(w.Active, activeTasks(s.ActiveWorkers)...)
		if s.Started.Before(w.Started) {
			w.Started = s.Started.UTC()
		}
		if s.Status == "active" {
			w.Status = s.Status
		}
	}
	for i := range out {
		w := &out[i]
		slices.SortFunc(w.Active, func(a, b FleetTask) int { return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID)) })
		w.ActiveTasks = len(w.Active)
	}
	return out
}

func activeTasks(ws []*asynq.WorkerInfo) []FleetTask {
	out := make([]FleetTask, 0, len(ws))
	for _, w := range ws {
		out = append(out, FleetTask{ID: w.TaskID, Type: w.TaskType, Queue: w.Queue, Started: w.Started.UTC(), Deadline: w.Deadline.UTC()})
	}
	slices.SortFunc(out, func(a, b FleetTask) int { return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID)) })
	return out
}

// fleetAPI serves GET <root>/api/v1/fleet.
func (h *Handler) fleetAPI(w http.ResponseWriter, r *http.Request) {
	rep, err := h.fleetReport(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		h.logger.WarnContext(r.Context(), "fleet report failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(rep)
}

// fleetPage serves GET <root>/fleet: the report as a plain HTML table.
func (h *Handler) fleetPage(w http.ResponseWriter, r *http.Request) {
	rep, err := h.fleetReport(r.Context())
	data := struct {
		Root     string
		Report   FleetReport
		Warnings []string
		Error    string
		Now      time.Time
		Refresh  int
	}{Root: h.rootPath, Report: rep, Warnings: orphanWarnings(rep.Queues), Now: h.now(), Refresh: 10}
	code := http.StatusOK
	if err != nil {
		h.logger.WarnContext(r.Context(), "fleet report failed", "error", err)
		data.Error = err.Error()
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := h.fleetTmpl.Execute(w, data); err != nil {
		h.logger.WarnContext(r.Context(), "rendering the fleet page", "error", err)
	}
}

// newFleetTemplate parses the fleet page. Handler keeps one: templates
// are safe for concurrent use.
func newFleetTemplate() *template.Template {
	return template.Must(template.New("fleet").Funcs(template.FuncMap{
		"age": func(now, t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return now.Sub(t).Truncate(time.Second).String()
		},
		"queues": func(q map[string]int) []string {
			names := slices.SortedFunc(maps.Keys(q), func(a, b string) int { return cmp.Or(cmp.Compare(q[b], q[a]), cmp.Compare(a, b)) })
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = fmt.Sprintf("%s=%d", n, q[n])
			}
			return out
		},
	}).Parse(fleetHTML))
}

const fleetHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>Fleet - tuskq monitor</title>
<style>
body { font: 14px/1.4 -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 24px; color: #222; }
nav a { margin-right: 16px; }
table { border-collapse: collapse; margin-top: 16px; }
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
<nav><a href="{{.Root}}/">Queues (asynqmon)</a><a href="{{.Root}}/fleet">Fleet</a><a href="{{.Root}}/api/v1/fleet">JSON</a></nav>
<h1>Fleet</h1>
{{if .Error}}<p class="err" id="fleet-error">{{.Error}}</p>{{else}}
<p id="fleet-totals">{{.Report.Totals.Workers}} worker processes, concurrency {{.Report.Totals.Concurrency}}, {{.Report.Totals.ActiveTasks}} active tasks. <span class="muted">Refreshes every {{.Refresh}}s.</span></p>
{{range .Warnings}}<p class="warn orphaned">{{.}}</p>
{{end}}{{if .Report.Workers}}
<table id="fleet">
<thead><tr><th>Host</th><th>PID</th><th>Status</th><th>Up</th><th>Active / concurrency</th><th>Queues</th><th>Plugins</th></tr></thead>
<tbody>
{{range .Report.Workers}}<tr>
<td>{{.Host}}</td><td class="num">{{.PID}}</td><td>{{.Status}}</td><td>{{age $.Now .Started}}</td>
<td class="num">{{.ActiveTasks}} / {{.Concurrency}}</td>
<td>{{range queues .Queues}}{{.}} {{end}}{{if .StrictPriority}}<span class="muted">(strict)</span>{{end}}</td>
{{if .Tuskq}}<td>{{if not .Tuskq.Plugins}}<span class="muted">none</span>{{else}}<ul>{{range .Tuskq.Plugins}}<li>{{.Name}}{{if .Version}} {{.Version}}{{end}}{{if .Runtime}} <span class="muted">({{.Runtime}})</span>{{end}} {{.Status}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}}</li>{{end}}</ul>{{end}}</td>
{{else}}<td class="muted">no plugins reported</td>{{end}}
</tr>
{{end}}</tbody>
</table>
{{else}}<p id="fleet-empty">No worker process has a live heartbeat in this Redis.</p>{{end}}
{{end}}
</body>
</html>
`
