package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// Paths of the workflow endpoints.
const (
	PathWorkflows = "/v1/workflows"
	PathWorkflow  = "/v1/workflows/{id}"
)

// Problem types of workflows.
const (
	ProblemWorkflowExists   = "workflow-exists"
	ProblemWorkflowFinished = "workflow-finished"
)

func init() {
	titles[ProblemWorkflowExists] = "A workflow with this ID exists"
	titles[ProblemWorkflowFinished] = "The workflow has ended"
}

// WorkflowCreated is the answer of POST /v1/workflows.
type WorkflowCreated struct {
	// ID is the workflow's ID.
	ID string `json:"id"`
	// TraceID is the trace all its steps share.
	TraceID string `json:"trace_id"`
	// Steps is the number of steps.
	Steps int `json:"steps"`
}

// WorkflowStepView is one step as GET /v1/workflows/{id} shows it.
type WorkflowStepView struct {
	tasks.WorkflowStepState
	// Result is the step's result, when it succeeded and wrote one.
	Result *string `json:"result,omitempty"`
}

// WorkflowView is the answer of GET and DELETE /v1/workflows/{id}.
type WorkflowView struct {
	tasks.WorkflowSummary
	Steps []WorkflowStepView `json:"steps"`
}

// WorkflowViewOf is a workflow's state as the API (and the CLI) shows it.
func WorkflowViewOf(st *tasks.WorkflowState) WorkflowView {
	v := WorkflowView{WorkflowSummary: st.Summary, Steps: make([]WorkflowStepView, len(st.Steps))}
	for i, s := range st.Steps {
		v.Steps[i] = WorkflowStepView{WorkflowStepState: s}
		if s.Result != nil {
			r := string(s.Result)
			v.Steps[i].Result = &r
		}
	}
	return v
}

func problemNoWorkflow(id string) *Problem {
	return newProblem(ProblemNotFound, http.StatusNotFound, fmt.Sprintf("no workflow %q (or its state expired after enqueue.workflow_ttl)", id))
}

// createWorkflow serves POST /v1/workflows.
func (h *Handler) createWorkflow(w http.ResponseWriter, r *http.Request, p *principal) {
	body, prob := h.readBody(w, r)
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	wf, err := tasks.ParseWorkflow(body)
	if err != nil {
		writeProblem(w, workflowInvalid(err))
		return
	}
	var scopeProb *Problem
	i := 0
	wf.Tasks(func(name, taskType string, o tasks.EnqueueOptions) {
		q := o.Queue
		if q == "" {
			q = h.routeQueue(taskType)
		}
		if q == "" {
			q = "default"
		}
		prefix := fmt.Sprintf("steps[%d].task.", i)
		if name == "" {
			prefix = "callback."
		}
		i++
		if scopeProb == nil {
			scopeProb = p.scope(prefix, q, taskType)
		}
	})
	if scopeProb != nil {
		writeProblem(w, scopeProb)
		return
	}
	// The enqueue is carried out even if the client goes away meanwhile.
	info, err := h.client.EnqueueWorkflow(context.WithoutCancel(r.Context()), wf)
	switch {
	case errors.Is(err, tasks.ErrWorkflowExists):
		writeProblem(w, newProblem(ProblemWorkflowExists, http.StatusConflict, "a workflow with this id exists already; choose another id or leave it out"))
		return
	case errors.Is(err, tasks.ErrInvalidWorkflow) || errors.Is(err, tasks.ErrBadOptions):
		writeProblem(w, workflowInvalid(err))
		return
	case err != nil:
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	infoOf(r.Context()).traceID = info.TraceID
	w.Header().Set("Location", PathWorkflows+"/"+url.PathEscape(info.ID))
	writeJSON(w, http.StatusCreated, WorkflowCreated{ID: info.ID, TraceID: info.TraceID, Steps: info.Steps})
}

// workflowInvalid turns a decoding or checking error into a 400 problem
// naming each field.
func workflowInvalid(err error) *Problem {
	var probs taskspec.Problems
	if errors.As(err, &probs) {
		errs := make([]FieldError, len(probs))
		for i, pr := range probs {
			errs[i] = FieldError{Field: pr.Field, Detail: pr.Detail}
		}
		return invalid(errs...)
	}
	return newProblem(ProblemInvalidRequest, http.StatusBadRequest, err.Error())
}

// findWorkflow reads the workflow of the path; one with a step in a queue
// outside the token's scope is answered as a missing one.
func (h *Handler) findWorkflow(w http.ResponseWriter, r *http.Request, p *principal) (*tasks.WorkflowState, bool) {
	id := r.PathValue("id")
	st, err := h.client.Workflow(r.Context(), id)
	if errors.Is(err, tasks.ErrWorkflowNotFound) {
		writeProblem(w, problemNoWorkflow(id))
		return nil, false
	}
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return nil, false
	}
	for _, s := range st.Steps {
		if !p.allowQueue(s.Queue) {
			writeProblem(w, problemNoWorkflow(id))
			return nil, false
		}
	}
	return st, true
}

// getWorkflow serves GET /v1/workflows/{id}.
func (h *Handler) getWorkflow(w http.ResponseWriter, r *http.Request, p *principal) {
	if st, ok := h.findWorkflow(w, r, p); ok {
		writeJSON(w, http.StatusOK, WorkflowViewOf(st))
	}
}

// deleteWorkflow serves DELETE /v1/workflows/{id}: it cancels what has
// not ended and answers the workflow's state after.
func (h *Handler) deleteWorkflow(w http.ResponseWriter, r *http.Request, p *principal) {
	st, ok := h.findWorkflow(w, r, p)
	if !ok {
		return
	}
	err := h.client.CancelWorkflow(context.WithoutCancel(r.Context()), st.ID)
	switch {
	case errors.Is(err, tasks.ErrWorkflowEnded):
		writeProblem(w, newProblem(ProblemWorkflowFinished, http.StatusConflict, fmt.Sprintf("workflow %q ended (%s) before the cancellation", st.ID, st.State)))
		return
	case errors.Is(err, tasks.ErrWorkflowNotFound):
		writeProblem(w, problemNoWorkflow(st.ID))
		return
	case err != nil:
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	if st, ok = h.findWorkflow(w, r, p); ok {
		writeJSON(w, http.StatusOK, WorkflowViewOf(st))
	}
}
