package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
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
	// Plugins are the plugins the workers report or that are published
	// to the fleet, sorted by name, with the versions the workers run.
	Plugins []FleetPlugin `json:"plugins"`
	// Published are the plugins published to the fleet (worker plugins
	// publish), sorted by name: the current version and its digest, and
	// the version each reporting worker (by fleet-state ID, as
	// FleetTuskq.WorkerID) has loaded.
	Published []fleetstate.PublishedPlugin `json:"published"`
}

// FleetPlugin is one plugin of the fleet: the version published to the
// fleet (worker plugins publish), if any, and the versions its workers
// report.
type FleetPlugin struct {
	// Name is the plugin's name.
	Name string `json:"name"`
	// Published is the current published version; empty for a plugin
	// installed on the workers' disks rather than published.
	Published string `json:"published,omitempty"`
	// Versions are the versions reported by workers, sorted.
	Versions []FleetPluginVersion `json:"versions"`
	// Behind counts the workers that report the plugin but do not run
	// the published version (still loading it, or refusing it).
	Behind int `json:"behind"`
}

// FleetPluginVersion counts the workers reporting one version of a plugin.
type FleetPluginVersion struct {
	// Version is the version from the manifest.
	Version string `json:"version"`
	// Loaded, Failed and Disabled count the workers reporting that
	// status for the version.
	Loaded int `json:"loaded"`
	// Failed counts the workers that failed to load it.
	Failed int `json:"failed"`
	// Disabled counts the workers that have it disabled.
	Disabled int `json:"disabled"`
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
	current := make(map[string]string, len(bundles))
	for _, b := range bundles {
		current[b.Name] = b.Version
	}
	rep.Plugins = fleetPlugins(rep.Workers, current)
	for i := range rep.Queues {
		q := &rep.Queues[i]
		for _, w := range rep.Workers {
			if _, ok := w.Queues[q.Queue]; ok {
				q.Workers++
			}
		}
		days, err := h.inspector.History(q.Queue, HistoryDays)
		if err != nil {
			return FleetReport{}, fmt.Errorf("monitor: daily statistics of queue %s: %w", q.Queue, err)
		}
		// asynq lists today first.
		for _, d := range slices.Backward(days) {
			q.Processed = append(q.Processed, d.Processed)
			q.Failed = append(q.Failed, d.Failed)
		}
	}
	return rep, nil
}

// fleetPlugins counts, per plugin, the workers reporting each version,
// and those not running the published one.
func fleetPlugins(workers []FleetWorker, published map[string]string) []FleetPlugin {
	byName := map[string]*FleetPlugin{}
	get := func(name string) *FleetPlugin {
		p, ok := byName[name]
		if !ok {
			p = &FleetPlugin{Name: name, Published: published[name], Versions: []FleetPluginVersion{}}
			byName[name] = p
		}
		return p
	}
	for name := range published {
		get(name)
	}
	for _, w := range workers {
		if w.Tuskq == nil {
			continue
		}
		current := map[string]bool{}
		seen := map[string]bool{}
		for _, pr := range w.Tuskq.Plugins {
			p := get(pr.Name)
			seen[pr.Name] = true
			i := slices.IndexFunc(p.Versions, func(v FleetPluginVersion) bool { return v.Version == pr.Version })
			if i < 0 {
				p.Versions = append(p.Versions, FleetPluginVersion{Version: pr.Version})
				i = len(p.Versions) - 1
			}
			if pr.Version == p.Published && pr.Status != fleetstate.StatusFailed {
				current[pr.Name] = true
			}
			switch pr.Status {
			case fleetstate.StatusLoaded:
				p.Versions[i].Loaded++
			case fleetstate.StatusFailed:
				p.Versions[i].Failed++
			case fleetstate.StatusDisabled:
				p.Versions[i].Disabled++
			}
		}
		for name := range seen {
			if p := byName[name]; p.Published != "" && !current[name] {
				p.Behind++
			}
		}
	}
	out := make([]FleetPlugin, 0, len(byName))
	for _, p := range byName {
		slices.SortFunc(p.Versions, func(a, b FleetPluginVersion) int { return cmp.Compare(a.Version, b.Version) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b FleetPlugin) int { return cmp.Compare(a.Name, b.Name) })
	return out
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
