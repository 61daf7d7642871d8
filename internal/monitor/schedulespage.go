package monitor

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/tuskq/tuskq/internal/monitor/ui"
	"github.com/tuskq/tuskq/internal/scheduler"
)

// Bounds of the schedules page's timeline of upcoming ticks.
const (
	tickHorizon  = 24 * time.Hour
	maxTickMarks = 48
)

// SchedulesReport is the body of GET <root>/api/v1/schedules: the fleet's
// schedules (configured and added at run time) with their state.
type SchedulesReport struct {
	// Generated is when the report was made.
	Generated time.Time `json:"generated"`
	// Schedules are sorted by name.
	Schedules []ScheduleReport `json:"schedules"`
	// Warning names stored schedules that could not be decoded (the
	// others are listed).
	Warning string `json:"warning,omitempty"`
}

// ScheduleReport is one schedule and its state.
type ScheduleReport struct {
	// Name identifies the schedule.
	Name string `json:"name"`
	// Spec is the cron spec as given; TimeZone the zone it is read in
	// ("" is UTC).
	Spec string `json:"spec"`
	// TimeZone is the IANA zone of Spec; empty for UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Type is the task type each tick enqueues.
	Type string `json:"type"`
	// Queue is the schedule's own queue; empty when its route's or
	// default applies.
	Queue string `json:"queue,omitempty"`
	// Source is "config" or "api".
	Source string `json:"source"`
	// Paused says no tick is enqueued.
	Paused bool `json:"paused"`
	// Next is the next tick.
	Next time.Time `json:"next,omitzero"`
	// LastTick is the newest tick handled (enqueued, skipped or dropped).
	LastTick time.Time `json:"last_tick,omitzero"`
	// LastRun is the newest tick a task was enqueued for.
	LastRun time.Time `json:"last_run,omitzero"`
	// Missed counts the ticks dropped by the missed-tick policy.
	Missed int64 `json:"missed"`
	// MissedPolicy and Overlap are the schedule's policies.
	MissedPolicy string `json:"missed_policy,omitempty"`
	// Overlap is the overlap policy.
	Overlap string `json:"overlap,omitempty"`
	// Late is true when the tick after LastTick is past its grace
	// without being handled: no worker runs the scheduler
	// (worker.scheduler), or it cannot reach Redis.
	Late bool `json:"late"`

	ticks []float64
	dense bool
}

// schedulesReport reads the schedules from the scheduler's store.
func (h *Handler) schedulesReport(ctx context.Context) (SchedulesReport, error) {
	now := h.now()
	entries, err := scheduler.NewStore(h.rdb).List(ctx, now)
	rep := SchedulesReport{Generated: now.UTC(), Schedules: make([]ScheduleReport, 0, len(entries))}
	if err != nil {
		if entries == nil {
			return rep, fmt.Errorf("monitor: %w", err)
		}
		rep.Warning = err.Error()
	}
	for _, e := range entries {
		s := e.Schedule
		sr := ScheduleReport{
			Name: s.Name, Spec: s.Cron, TimeZone: s.TimeZone, Type: s.Task.Type, Queue: s.Task.Options.Queue,
			Source: e.Source, Paused: e.Paused, Next: e.Next.UTC(), LastTick: utc(e.Last), LastRun: utc(e.Run),
			Missed: e.Missed, MissedPolicy: s.Missed, Overlap: s.Overlap,
		}
		if !e.Paused && !e.Last.IsZero() {
			after := s.Next(e.Last)
			sr.Late = now.After(after.Add(s.Grace(after)))
		}
		if !e.Paused {
			t := now
			for range maxTickMarks + 1 {
				t = s.Next(t)
				if t.IsZero() || t.Sub(now) > tickHorizon {
					break
				}
				sr.ticks = append(sr.ticks, float64(t.Sub(now))/float64(tickHorizon))
			}
			sr.dense = len(sr.ticks) > maxTickMarks
		}
		rep.Schedules = append(rep.Schedules, sr)
	}
	return rep, nil
}

// utc is t in UTC, the zero time kept zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// schedulesAPI serves GET <root>/api/v1/schedules.
func (h *Handler) schedulesAPI(w http.ResponseWriter, r *http.Request) {
	rep, err := h.schedulesReport(r.Context())
	writeJSON(w, r, h, "schedules report", rep, err)
}

// schedulesView is what the schedules page's template reads.
type schedulesView struct {
	Report  SchedulesReport
	Error   string
	Now     time.Time
	Refresh int
}

// schedulesPage serves GET <root>/schedules.
func (h *Handler) schedulesPage(w http.ResponseWriter, r *http.Request) {
	rep, err := h.schedulesReport(r.Context())
	v := schedulesView{Report: rep, Now: h.now(), Refresh: 10}
	code := http.StatusOK
	if err != nil {
		h.logger.WarnContext(r.Context(), "schedules report failed", "error", err)
		v.Error = err.Error()
		code = http.StatusServiceUnavailable
	}
	h.render(w, r, code, ui.Page{Title: "Schedules", Active: "schedules", Refresh: v.Refresh, JSON: PathSchedulesAPI}, h.pages.schedulesTmpl, v)
}

func newSchedulesTemplate() *template.Template {
	f := pageFuncs()
	f["ticks"] = func(s ScheduleReport) template.HTML { return ui.Timeline(s.ticks, s.dense) }
	f["in"] = func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return "in " + t.Sub(now).Round(time.Second).String()
	}
	f["stamp"] = func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }
	return template.Must(template.New("schedules").Funcs(f).Parse(schedulesHTML))
}

const schedulesHTML = `{{if .Error}}<p class="alert err" id="schedules-error">{{.Error}}</p>{{else}}
{{with .Report.Warning}}<p class="alert">{{.}}</p>{{end}}
<div class="card"><h2>Periodic tasks</h2>
{{if .Report.Schedules}}<table id="schedules">
<thead><tr><th>Name</th><th>Spec</th><th>Task</th><th>State</th><th>Next tick</th><th>Last run</th><th class="num">Missed</th><th>Next 24 h</th></tr></thead>
<tbody>
{{range .Report.Schedules}}<tr data-schedule="{{.Name}}">
<td><b>{{.Name}}</b><br><span class="muted">{{.Source}}</span></td>
<td><code>{{.Spec}}</code>{{with .TimeZone}}<br><span class="muted">{{.}}</span>{{end}}</td>
<td><code>{{.Type}}</code>{{with .Queue}} <span class="muted">→ {{.}}</span>{{end}}</td>
<td class="state">{{if .Paused}}<span class="chip">paused</span>{{else if .Late}}<span class="chip err" title="the tick after the last one handled is past its grace: is a worker running the scheduler?">late</span>{{else}}<span class="chip ok">active</span>{{end}}</td>
<td>{{if .Paused}}<span class="muted">-</span>{{else}}<span title="{{stamp .Next}}">{{in $.Now .Next}}</span>{{end}}</td>
<td>{{if .LastRun.IsZero}}<span class="muted">never</span>{{else}}<span title="{{stamp .LastRun}}">{{age $.Now .LastRun}} ago</span>{{end}}</td>
<td class="num missed">{{if .Missed}}<span class="chip warn">{{.Missed}}</span>{{else}}0{{end}}</td>
<td>{{ticks .}}</td>
</tr>
{{end}}</tbody>
</table>
<p class="muted">Every worker with <code>worker.scheduler</code> on enqueues each tick once for the fleet. Missed ticks were dropped by the schedule's missed policy; a late schedule has a tick past its grace that no scheduler handled. Pause, resume and add schedules with the HTTP API (<code>/v1/schedules</code>).</p>
{{else}}<p id="schedules-empty">No schedule is configured or added at run time.</p>{{end}}
</div>{{end}}`
