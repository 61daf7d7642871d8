package monitor

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/monitor/ui"
)

// insightView is what the Insight page's template shows.
type insightView struct {
	Root     string
	Off      bool
	Report   *insight.Report
	Warmup   string
	Series   []seriesRow
	Timeline []insight.Anomaly
}

// seriesRow is a series with its sparklines.
type seriesRow struct {
	insight.SeriesView
	ErrSpark, DurSpark spark
}

// spark is an inline SVG sparkline: the live values against the baseline.
type spark struct {
	Live, Base string // polyline points
	Max        string // the top of the scale, for the tooltip
}

const sparkW, sparkH = 160.0, 32.0

// newSpark scales live and base together into the sparkline's box.
func newSpark(live, base []float64, format func(float64) string) spark {
	top := 0.0
	for i := range live {
		top = max(top, live[i], base[i])
	}
	if top <= 0 {
		top = 1
	}
	pts := func(vs []float64) string {
		var b strings.Builder
		for i, v := range vs {
			x := sparkW * float64(i) / math.Max(1, float64(len(vs)-1))
			y := sparkH - 2 - (sparkH-4)*v/top
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		return strings.TrimSpace(b.String())
	}
	return spark{Live: pts(live), Base: pts(base), Max: format(top)}
}

func percent(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

func seconds(v float64) string {
	if v < 0 {
		return "never"
	}
	return (time.Duration(v * float64(time.Second))).Round(time.Millisecond).String()
}

// insightPage serves the Insight page.
func (h *Handler) insightPage(w http.ResponseWriter, r *http.Request) {
	rep := h.insightReport()
	v := insightView{Root: h.rootPath, Off: h.insight == nil, Report: rep, Timeline: rep.Timeline}
	if rep.WarmupLeft > 0 {
		v.Warmup = time.Duration(float64(rep.WarmupLeft) * float64(time.Second)).Round(time.Second).String()
	}
	for _, s := range rep.Series {
		n := len(s.History)
		le, be, lp, bp := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i, p := range s.History {
			le[i], be[i], lp[i], bp[i] = p.ErrorRate, p.BaseErrorRate, p.P95, p.BaseP95
		}
		v.Series = append(v.Series, seriesRow{SeriesView: s, ErrSpark: newSpark(le, be, percent), DurSpark: newSpark(lp, bp, seconds)})
	}
	body, err := ui.Execute(insightTmpl, v)
	if err != nil {
		h.logger.WarnContext(r.Context(), "rendering the insight page", "error", err)
		http.Error(w, "monitor: rendering the insight page failed\n", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if err := ui.Render(w, http.StatusOK, ui.Page{Root: h.rootPath, Title: "Insight", Active: "insight", Refresh: 10, Body: body, JSON: PathInsightAPI}); err != nil {
		h.logger.WarnContext(r.Context(), "writing the insight page", "error", err)
	}
}

var insightTmpl = template.Must(template.New("insight").Funcs(template.FuncMap{
	"pct":  percent,
	"secs": seconds,
	"hm": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05")
	},
	"taskURL": func(root, queue, id string) string {
		return root + "/queues/" + url.PathEscape(queue) + "/tasks/" + url.PathEscape(id)
	},
	"rate": func(v float64) string { return fmt.Sprintf("%.2f/s", v) },
}).Parse(insightHTML))

const insightHTML = `<style>
.anomaly { background: #fff; border-left: 4px solid #b00020; padding: 8px 12px; margin: 8px 0; max-width: 1100px; }
.anomaly.resolved { border-left-color: #2e7d32; }
.kind { font-weight: 500; text-transform: uppercase; font-size: 12px; color: #b00020; margin-right: 8px; }
.resolved .kind { color: #2e7d32; }
svg.spark { vertical-align: middle; background: #f5f9ff; }
svg.spark .live { fill: none; stroke: #1565c0; stroke-width: 1.5; }
svg.spark .base { fill: none; stroke: #999; stroke-width: 1; stroke-dasharray: 3 2; }
code { background: #f3f3f3; padding: 0 3px; }
</style>
{{if .Off}}<p class="warn">Insight is off: set <code>monitor.insight.enabled: true</code>.</p>
{{else if not .Report.Ready}}<p class="warn">Learning what is normal: no anomaly is reported for another {{.Warmup}}.</p>{{end}}
<p class="muted">Updated {{hm .Report.At}} UTC.</p>

<h2>Active anomalies</h2>
{{range .Report.Active}}{{$q := .Queue}}<div class="anomaly" data-kind="{{.Kind}}">
<span class="kind">{{.Kind}}</span><b>{{if .TaskType}}{{.TaskType}} on {{end}}{{.Queue}}</b> <span class="muted">since {{hm .Since}}, raised {{hm .Detected}}</span>
<div>{{.Summary}}</div>
{{if .Examples}}<div class="muted">Failed attempts to look at:
{{range .Examples}}<a href="{{taskURL $.Root $q .TaskID}}">{{.TaskID}}</a>{{if .TraceID}} (trace <code>{{.TraceID}}</code>){{end}}{{if .Worker}} on {{.Worker}}{{end}}; {{end}}</div>{{end}}
</div>{{else}}<p>Nothing is wrong.</p>{{end}}

<h2>Queues</h2>
<table><tr><th>queue</th><th>pending</th><th>scheduled</th><th>retry</th><th>processed</th><th>arriving</th><th>drains in</th><th>a task enqueued now starts in</th><th>oldest waits</th><th>target</th></tr>
{{range .Report.Forecasts}}<tr{{if .AtRisk}} class="err"{{end}}><td>{{.Queue}}</td><td class="num">{{.Pending}}</td><td class="num">{{.Scheduled}}</td><td class="num">{{.Retry}}</td>
<td class="num">{{rate .Rate}}</td><td class="num">{{rate .Arrival}}</td><td class="num">{{secs .DrainSeconds}}</td><td class="num">{{secs .WaitSeconds}}</td>
<td class="num">{{secs .LatencySeconds}}</td><td class="num">{{if .TargetSeconds}}{{secs .TargetSeconds}}{{if .AtRisk}} at risk{{end}}{{else}}-{{end}}</td></tr>
{{else}}<tr><td colspan="10" class="muted">No queue yet.</td></tr>{{end}}
</table>

<h2>Task types: live against baseline</h2>
<p class="muted">Last minute (solid) against the learned baseline (dashed), over the last ten minutes.</p>
<table><tr><th>task type</th><th>queue</th><th>attempts</th><th>failures</th><th></th><th>p95 duration</th><th></th></tr>
{{range .Series}}<tr><td>{{.Type}}{{if .Learning}} <span class="muted">(learning)</span>{{end}}</td><td>{{.Queue}}</td><td class="num">{{rate .Rate}}</td>
<td class="num">{{pct .ErrorRate}} <span class="muted">/ {{pct .BaseErrorRate}}</span></td>
<td><svg class="spark" width="160" height="32" viewBox="0 0 160 32" role="img" aria-label="failures, top {{.ErrSpark.Max}}"><title>failures (top {{.ErrSpark.Max}})</title><polyline class="base" points="{{.ErrSpark.Base}}"/><polyline class="live" points="{{.ErrSpark.Live}}"/></svg></td>
<td class="num">{{secs .P95}} <span class="muted">/ {{secs .BaseP95}}</span></td>
<td><svg class="spark" width="160" height="32" viewBox="0 0 160 32" role="img" aria-label="p95, top {{.DurSpark.Max}}"><title>p95 duration (top {{.DurSpark.Max}})</title><polyline class="base" points="{{.DurSpark.Base}}"/><polyline class="live" points="{{.DurSpark.Live}}"/></svg></td></tr>
{{else}}<tr><td colspan="7" class="muted">No attempts in the last minute.</td></tr>{{end}}
</table>

<h2>Timeline</h2>
{{range .Timeline}}<div class="anomaly{{if not .Resolved.IsZero}} resolved{{end}}">
<span class="kind">{{.Kind}}</span><b>{{if .TaskType}}{{.TaskType}} on {{end}}{{.Queue}}</b>
<span class="muted">raised {{hm .Detected}}{{if not .Resolved.IsZero}}, resolved {{hm .Resolved}}{{else}}, active{{end}}</span>
<div>{{.Summary}}</div></div>{{else}}<p class="muted">No anomaly yet.</p>{{end}}
`
