package monitor

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/tuskq/tuskq/internal/monitor/ui"
	"github.com/tuskq/tuskq/internal/workflow"
)

// Paths of the workflows page and its JSON.
const (
	// PathWorkflows is the workflows page: the latest workflows, and with
	// ?id= one workflow's graph.
	PathWorkflows = "/workflows"
	// PathWorkflowsAPI answers the latest workflows as JSON, and with
	// ?id= one workflow with its steps.
	PathWorkflowsAPI = "/api/v1/workflows"
)

// workflowListLimit is how many workflows the page lists.
const workflowListLimit = 100

// maxDrawnSteps bounds the graph drawn; a larger workflow is shown as a
// table of its first steps.
const maxDrawnSteps = 300

// Geometry of the drawing.
const (
	nodeW, nodeH, colW, rowH, pad = 140, 30, 180, 44, 10
)

// node is a step as drawn.
type node struct {
	X, Y        int
	Name, State string
	Href        string
}

// edge is an arrow from the step waited for to the step waiting.
type edge struct{ X1, Y1, X2, Y2 int }

// graph is a workflow laid out in columns by depth (the longest chain of
// steps before it).
type graph struct {
	W, H  int
	Nodes []node
	Edges []edge
}

// layout places the steps: column = depth, row = order within the column.
func layout(root string, st *workflow.State) graph {
	depth := map[string]int{}
	pos := map[string][2]int{}
	rows := map[int]int{}
	var g graph
	// Steps are stored in the order given; a step's after names may come
	// later, so iterate until depths settle (bounded by the step count).
	for range len(st.Steps) {
		changed := false
		for _, s := range st.Steps {
			d := 0
			for _, a := range s.After {
				d = max(d, depth[a]+1)
			}
			if depth[s.Name] != d {
				depth[s.Name], changed = d, true
			}
		}
		if !changed {
			break
		}
	}
	for _, s := range st.Steps {
		d := depth[s.Name]
		x, y := pad+d*colW, pad+rows[d]*rowH
		rows[d]++
		pos[s.Name] = [2]int{x, y}
		g.Nodes = append(g.Nodes, node{X: x, Y: y, Name: s.Name, State: s.State,
			Href: root + "/queues/" + url.PathEscape(s.Queue) + "/tasks/" + url.PathEscape(s.TaskID)})
		g.W, g.H = max(g.W, x+nodeW+pad), max(g.H, y+nodeH+pad)
	}
	for _, s := range st.Steps {
		to := pos[s.Name]
		for _, a := range s.After {
			from := pos[a]
			g.Edges = append(g.Edges, edge{X1: from[0] + nodeW, Y1: from[1] + nodeH/2, X2: to[0], Y2: to[1] + nodeH/2})
		}
	}
	return g
}

var workflowsTmpl = template.Must(template.New("workflows").Parse(`
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
{{with .One}}
<p><a href="{{$.Root}}/workflows">All workflows</a> · <a href="{{$.Root}}/api/v1/workflows?id={{.ID}}">JSON</a></p>
<p>Workflow <b>{{.ID}}</b>: <span class="st-{{.State}}">{{.State}}</span>, policy {{.Policy}};
{{.Succeeded}} of {{.Total}} succeeded, {{.Failed}} failed, {{.Cancelled}} cancelled, {{.Skipped}} skipped.
{{if .TraceID}}Trace {{.TraceID}}.{{end}}</p>
{{if $.Graph}}
<svg id="workflow-graph" xmlns="http://www.w3.org/2000/svg" width="{{$.Graph.W}}" height="{{$.Graph.H}}" role="img" aria-label="workflow graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#999"/></marker></defs>
{{range $.Graph.Edges}}<line x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" stroke="#999" marker-end="url(#arrow)"/>
{{end}}{{range $.Graph.Nodes}}<a href="{{.Href}}" class="step" data-step="{{.Name}}" data-state="{{.State}}"><rect x="{{.X}}" y="{{.Y}}" width="140" height="30" rx="4" class="st-{{.State}}"/><text x="{{.X}}" y="{{.Y}}" dx="8" dy="19">{{.Name}} · {{.State}}</text></a>
{{end}}</svg>
{{else}}<p class="muted">{{len .Steps}} steps: too many to draw; the first are listed.</p>{{end}}
<table><tr><th>step</th><th>state</th><th>after</th><th>task</th></tr>
{{range $i, $s := .Steps}}{{if lt $i 300}}<tr><td>{{$s.Name}}</td><td class="st-{{$s.State}}">{{$s.State}}</td><td>{{range $s.After}}{{.}} {{end}}</td><td><a href="{{$.Root}}/queues/{{$s.Queue}}/tasks/{{$s.TaskID}}">{{$s.TaskID}}</a></td></tr>{{end}}
{{end}}</table>
{{else}}
<p class="muted">The latest {{len .List}} workflows (enqueue --workflow, POST /v1/workflows, tasks.Client.EnqueueWorkflow). <a href="{{.Root}}/api/v1/workflows">JSON</a></p>
<table id="workflows"><tr><th>workflow</th><th>state</th><th class="num">steps</th><th class="num">succeeded</th><th class="num">failed</th><th class="num">cancelled</th><th class="num">skipped</th><th>created</th></tr>
{{range .List}}<tr><td><a href="{{$.Root}}/workflows?id={{.ID}}">{{.ID}}</a></td><td class="st-{{.State}}">{{.State}}</td><td class="num">{{.Total}}</td><td class="num">{{.Succeeded}}</td><td class="num">{{.Failed}}</td><td class="num">{{.Cancelled}}</td><td class="num">{{.Skipped}}</td><td>{{.Created.Format "2006-01-02 15:04:05"}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">No workflow yet.</td></tr>{{end}}
</table>
{{end}}
<style>
svg text { font-size: 12px; fill: #222; }
svg rect { stroke: #777; fill: #eee; }
svg rect.st-succeeded, td.st-succeeded { fill: #c8e6c9; background: #e8f5e9; }
svg rect.st-failed, td.st-failed { fill: #ffcdd2; background: #ffebee; }
svg rect.st-released, td.st-released, td.st-running { fill: #bbdefb; background: #e3f2fd; }
svg rect.st-cancelled, svg rect.st-skipped { fill: #e0e0e0; }
</style>
`))

// workflowsPage serves the workflows page.
func (h *Handler) workflowsPage(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Root  string
		List  []workflow.Summary
		One   *workflow.State
		Graph *graph
		Error string
	}{Root: h.rootPath}
	code := http.StatusOK
	if id := r.URL.Query().Get("id"); id != "" {
		st, err := workflow.Get(r.Context(), h.rdb, id)
		switch {
		case errors.Is(err, workflow.ErrNotFound):
			code, data.Error = http.StatusNotFound, "No workflow "+id+" (or its state expired)."
		case err != nil:
			code, data.Error = http.StatusServiceUnavailable, err.Error()
		default:
			data.One = st
			if len(st.Steps) <= maxDrawnSteps {
				g := layout(h.rootPath, st)
				data.Graph = &g
			}
		}
	} else {
		list, err := workflow.List(r.Context(), h.rdb, workflowListLimit)
		if err != nil {
			code, data.Error = http.StatusServiceUnavailable, err.Error()
		}
		data.List = list
	}
	body, err := ui.Execute(workflowsTmpl, data)
	if err != nil {
		h.logger.WarnContext(r.Context(), "rendering the workflows page", "error", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	refresh := 5
	if data.One != nil && data.One.Finished != nil {
		refresh = 0
	}
	if err := ui.Render(w, code, ui.Page{Root: h.rootPath, Title: "Workflows", Active: "workflows", Refresh: refresh, Body: body}); err != nil {
		h.logger.WarnContext(r.Context(), "rendering the workflows page", "error", err)
	}
}

// workflowsAPI answers the latest workflows, or with ?id= one workflow,
// as JSON.
func (h *Handler) workflowsAPI(w http.ResponseWriter, r *http.Request) {
	var v any
	var err error
	if id := r.URL.Query().Get("id"); id != "" {
		v, err = workflow.Get(r.Context(), h.rdb, id)
	} else {
		var list []workflow.Summary
		list, err = workflow.List(r.Context(), h.rdb, workflowListLimit)
		v = struct {
			Workflows []workflow.Summary `json:"workflows"`
		}{Workflows: append([]workflow.Summary{}, list...)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case errors.Is(err, workflow.ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	case err != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
