package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/monitor/ui"
)

// LimitsReport is the body of GET <root>/api/v1/limits: every effective
// fleet limit (configured or set at run time) with its current use.
type LimitsReport struct {
	// Generated is when the report was made.
	Generated time.Time `json:"generated"`
	// Limits are sorted by name.
	Limits []LimitReport `json:"limits"`
}

// LimitReport is one limit and its use.
type LimitReport struct {
	// Limit is the definition, as the configuration writes it.
	Limit limits.Raw `json:"limit"`
	// Source is "config" or "override" (set at run time).
	Source string `json:"source"`
	// Usage is what it holds and defers now; see limits.Usage.
	Usage limits.Usage `json:"usage"`
	// RatePerSecond is the rate's capacity in starts per second; 0
	// without a rate.
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	// Error says why the use could not be read (the definition is still
	// shown).
	Error string `json:"error,omitempty"`

	def limits.Limit
}

// limitsReport reads the effective limits and their use.
func (h *Handler) limitsReport(ctx context.Context) (LimitsReport, error) {
	entries, err := limits.NewStore(h.rdb).List(ctx, h.pages.limits)
	if err != nil {
		return LimitsReport{}, fmt.Errorf("monitor: %w", err)
	}
	rep := LimitsReport{Generated: h.now().UTC(), Limits: make([]LimitReport, 0, len(entries))}
	for _, e := range entries {
		lr := LimitReport{Limit: e.Raw, Source: e.Source, def: e.Limit}
		if !e.Limit.Rate.IsZero() {
			lr.RatePerSecond = float64(e.Limit.Rate.N) / e.Limit.Rate.Per.Seconds()
		}
		u, err := limits.ReadUsage(ctx, h.rdb, e.Limit)
		if err != nil {
			lr.Error = err.Error()
		}
		lr.Usage = u
		rep.Limits = append(rep.Limits, lr)
	}
	return rep, nil
}

// limitsAPI serves GET <root>/api/v1/limits.
func (h *Handler) limitsAPI(w http.ResponseWriter, r *http.Request) {
	rep, err := h.limitsReport(r.Context())
	writeJSON(w, r, h, "limits report", rep, err)
}

// writeJSON writes v, or {"error": ...} with 503 when err is set.
func writeJSON(w http.ResponseWriter, r *http.Request, h *Handler, what string, v any, err error) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		h.logger.WarnContext(r.Context(), what+" failed", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// limitsView is what the limits page's template reads.
type limitsView struct {
	Report  LimitsReport
	Error   string
	Refresh int
}

// limitsPage serves GET <root>/limits.
func (h *Handler) limitsPage(w http.ResponseWriter, r *http.Request) {
	rep, err := h.limitsReport(r.Context())
	v := limitsView{Report: rep, Refresh: 5}
	code := http.StatusOK
	if err != nil {
		h.logger.WarnContext(r.Context(), "limits report failed", "error", err)
		v.Error = err.Error()
		code = http.StatusServiceUnavailable
	}
	h.render(w, r, code, ui.Page{Title: "Limits", Active: "limits", Refresh: v.Refresh, JSON: PathLimitsAPI}, h.pages.limitsTmpl, v)
}

// limitFuncs are the limits page's template functions.
func limitFuncs() template.FuncMap {
	f := pageFuncs()
	// slotsBar draws the slots in use against the capacity (per key value
	// for a keyed limit: against capacity × the values tracked).
	f["slotsBar"] = func(l LimitReport) template.HTML {
		c := l.def.Concurrency
		if l.def.Key != "" {
			c *= max(int(l.Usage.Keys), 1)
		}
		return ui.Bar(float64(l.Usage.InUse), float64(c), fmt.Sprintf("%d / %d", l.Usage.InUse, c))
	}
	// rateBar draws the starts given out ahead against one period of the
	// rate: how much of the coming period is already used.
	f["rateBar"] = func(l LimitReport) template.HTML {
		per, booked := l.def.Rate.Per, l.Usage.RateBooked
		starts := int(math.Ceil(float64(booked) / float64(l.def.Rate.Interval())))
		label := "room now"
		if booked > 0 {
			label = fmt.Sprintf("%d of %d booked (%s ahead)", starts, l.def.Rate.N, booked.Round(10*time.Millisecond))
		}
		// Starts booked beyond the period wait in the workers (up to the
		// limiter's MaxWait): the rate is saturated, which is not an error.
		return ui.Bar(float64(min(booked, per)), float64(per), label)
	}
	f["deferred"] = func(l LimitReport) int64 { return l.Usage.Waiting + l.Usage.RateDeferred }
	return f
}

func newLimitsTemplate() *template.Template {
	return template.Must(template.New("limits").Funcs(limitFuncs()).Parse(limitsHTML))
}

const limitsHTML = `{{if .Error}}<p class="alert err" id="limits-error">{{.Error}}</p>{{else}}
<div class="card"><h2>Fleet limits</h2>
{{if .Report.Limits}}<table id="limits">
<thead><tr><th>Limit</th><th>Matches</th><th>Source</th><th>Concurrency: slots in use</th><th>Rate: this period</th><th class="num">Deferred now</th></tr></thead>
<tbody>
{{range .Report.Limits}}<tr data-limit="{{.Limit.Name}}">
<td><b>{{.Limit.Name}}</b>{{if .Limit.Key}}<br><span class="muted">per {{.Limit.Key}}{{if .Usage.Keys}}, {{.Usage.Keys}} values{{end}}</span>{{end}}</td>
<td>{{with .Limit.Type}}type <code>{{.}}</code>{{end}}{{if and .Limit.Type .Limit.Queue}}, {{end}}{{with .Limit.Queue}}queue <code>{{.}}</code>{{end}}{{if not (or .Limit.Type .Limit.Queue)}}every task{{end}}</td>
<td>{{.Source}}</td>
<td class="slots">{{if .Limit.Concurrency}}{{slotsBar .}}{{else}}<span class="muted">-</span>{{end}}</td>
<td class="rate">{{if .Limit.Rate}}<code>{{.Limit.Rate}}</code>{{with .Limit.Burst}} <span class="muted">burst {{.}}</span>{{end}}<br>{{rateBar .}}{{else}}<span class="muted">-</span>{{end}}</td>
<td class="num deferred">{{with deferred .}}<span class="chip warn">{{.}}</span>{{else}}0{{end}}</td>
</tr>{{if .Error}}<tr><td colspan="6" class="err">{{.Error}}</td></tr>{{end}}
{{end}}</tbody>
</table>
<p class="muted">Slots in use count live leases (a dead worker's expire within 30 s). A rate's bar is the share of its coming period already given out to starts; "deferred now" counts the tasks waiting for a slot plus those the rate has spread out to come back later. Change limits at run time with <code>worker limits set|clear</code>.</p>
{{else}}<p id="limits-empty">No fleet limit is configured or set at run time.</p>{{end}}
</div>{{end}}`

// pageSet holds what the schedules and limits pages need beyond the
// Handler's Redis client.
type pageSet struct {
	limitsTmpl, schedulesTmpl *template.Template
	// limits are the configured fleet limits (the overrides are read
	// from Redis).
	limits []limits.Limit
}

func newPageSet(configured []limits.Limit) *pageSet {
	return &pageSet{limitsTmpl: newLimitsTemplate(), schedulesTmpl: newSchedulesTemplate(), limits: configured}
}

// handlePages registers the schedules and limits pages and their JSON.
func (h *Handler) handlePages(mux *http.ServeMux) {
	rp := h.rootPath
	mux.HandleFunc("GET "+rp+PathLimits, h.limitsPage)
	mux.HandleFunc("GET "+rp+PathLimitsAPI, h.limitsAPI)
	mux.HandleFunc("GET "+rp+PathSchedules, h.schedulesPage)
	mux.HandleFunc("GET "+rp+PathSchedulesAPI, h.schedulesAPI)
}
