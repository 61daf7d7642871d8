package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// batchExample is the shape of a batch body, for messages.
const batchExample = `{"tasks":[{"type":"email:send","payload":{}}]}`

// DecodeBatch splits the body of POST /v1/tasks/batch, an object whose only
// field "tasks" is an array of 1 to maxBatch task objects, into the raw
// task objects. The objects themselves are decoded by DecodeTask's rules
// later, each on its own, so that a bad task does not sink the others.
func DecodeBatch(body []byte, maxBatch int) ([][]byte, []FieldError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, []FieldError{{Field: "body", Detail: "empty; send a JSON object such as " + batchExample}}
	}
	if !json.Valid(body) {
		return nil, []FieldError{{Field: "body", Detail: taskspec.SyntaxProblem(body)}}
	}
	members, err := jsonscan.Members(body)
	switch {
	case errors.Is(err, jsonscan.ErrNotObject):
		return nil, []FieldError{{Field: "body", Detail: fmt.Sprintf("expected a JSON object such as %s, got %s", batchExample, jsonscan.Kind(body))}}
	case err != nil:
		return nil, []FieldError{{Field: "body", Detail: err.Error()}}
	}
	var (
		errs []FieldError
		list []byte
	)
	for _, m := range members {
		switch {
		case m.Name != "tasks":
			errs = append(errs, FieldError{Field: fieldName(m.Name), Detail: `unknown field; a batch has only "tasks"`})
		case list != nil:
			errs = append(errs, FieldError{Field: "tasks", Detail: "appears twice; give each field once"})
		default:
			list = m.Value
		}
	}
	if list == nil && len(errs) == 0 {
		return nil, []FieldError{{Field: "tasks", Detail: "missing; send the tasks as " + batchExample}}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	elems, err := jsonscan.Elements(list)
	switch {
	case err != nil:
		return nil, []FieldError{{Field: "tasks", Detail: "expected an array of task objects, got " + jsonscan.Kind(list)}}
	case len(elems) == 0:
		return nil, []FieldError{{Field: "tasks", Detail: fmt.Sprintf("empty; send 1 to %d tasks", maxBatch)}}
	case len(elems) > maxBatch:
		return nil, []FieldError{{Field: "tasks", Detail: fmt.Sprintf("%d tasks; send at most %d per request (api.max_batch)", len(elems), maxBatch)}}
	}
	return elems, nil
}

// batch serves POST /v1/tasks/batch.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request, p *principal) {
	ctx := r.Context()
	ri := infoOf(ctx)
	body, key, ok := h.readRequest(w, r)
	if !ok {
		return
	}
	elems, errs := DecodeBatch(body, h.api.MaxBatch)
	if errs != nil {
		writeProblem(w, invalid(errs...))
		return
	}
	results := make([]BatchResult, len(elems))
	reqs := make([]tasks.Request, 0, len(elems))
	index := make([]int, 0, len(elems)) // reqs[k] is task index[k]
	canon := make([][]byte, len(elems)) // what the fingerprint covers
	for i, elem := range elems {
		prefix := "tasks[" + strconv.Itoa(i) + "]."
		results[i].Index = i
		req, probs := decodeTask(elem, prefix)
		if len(probs) == 0 {
			canon[i] = canonical(req)
		} else {
			canon[i] = sortedJSON(elem)
		}
		if prob := h.prepare(ctx, p, prefix, &req, probs, ri); prob != nil {
			results[i].Status, results[i].Error = prob.Status, prob
			continue
		}
		reqs = append(reqs, tasks.Request{Type: req.Type, Payload: req.Payload, Options: req.Options})
		index = append(index, i)
	}

	fp := fingerprint("POST "+PathBatch, canon...)
	claim, answered := h.claim(ctx, w, p, key, fp)
	if answered {
		return
	}
	for k := range reqs {
		switch {
		case reqs[k].Options.TaskID != "":
		case claim != nil:
			reqs[k].Options.TaskID = claim.taskID + "-" + strconv.Itoa(index[k])
		default:
			// As for a single task: every task gets its ID here.
			reqs[k].Options.TaskID = uuid.NewString()
		}
	}

	resp := h.enqueueBatch(ctx, reqs, index, claim, results)
	ri.tasks = resp.Enqueued
	if resp.Enqueued == 0 && anyStatus(results, http.StatusServiceUnavailable) {
		if claim != nil {
			h.release(ctx, claim)
		}
		prob := problemUnavailable()
		if allTimedOut(results) {
			prob = h.problemEnqueueTimeout("", true)
		}
		writeProblem(w, prob)
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		writeProblem(w, h.unavailable(ctx, err))
		return
	}
	out = append(out, '\n')
	if claim != nil {
		if err := h.idem.finish(context.WithoutCancel(ctx), claim, fp, http.StatusOK, out); err != nil {
			h.logger.WarnContext(ctx, "idempotent answer not stored; a retry with the same key may enqueue again",
				"error", err)
		}
	}
	writeJSONBytes(w, http.StatusOK, out)
}

// enqueueBatch stores the prepared requests and fills their results. As
// for a single task, the client going away does not stop the batch.
func (h *Handler) enqueueBatch(ctx context.Context, reqs []tasks.Request, index []int, claim *idemClaim, results []BatchResult) BatchResponse {
	var stored []tasks.Result
	if len(reqs) > 0 {
		stored = h.client.EnqueueMany(context.WithoutCancel(ctx), reqs, 0)
	}
	for k, res := range stored {
		i := index[k]
		if res.Err == nil {
			tc := created(res.Info.TaskInfo, res.Info.TraceID)
			results[i].Status, results[i].Task = http.StatusCreated, &tc
			continue
		}
		req := TaskRequest{Type: reqs[k].Type, Payload: reqs[k].Payload, Options: reqs[k].Options}
		derived := claim != nil && req.Options.TaskID == claim.taskID+"-"+strconv.Itoa(i)
		tc, prob := h.enqueueFailure(ctx, "tasks["+strconv.Itoa(i)+"].", &req, derived, res.Err)
		if tc != nil {
			results[i].Status, results[i].Task = http.StatusCreated, tc
			continue
		}
		results[i].Status, results[i].Error = prob.Status, prob
	}
	resp := BatchResponse{Results: results}
	for _, res := range results {
		if res.Status == http.StatusCreated {
			resp.Enqueued++
		} else {
			resp.Failed++
		}
	}
	return resp
}

// allTimedOut reports whether every result that failed with 503 is an
// enqueue-timeout problem.
func allTimedOut(results []BatchResult) bool {
	for _, r := range results {
		if r.Status == http.StatusServiceUnavailable && r.Error.Kind() != ProblemEnqueueTimeout {
			return false
		}
	}
	return true
}

// anyStatus reports whether a result has the status.
func anyStatus(results []BatchResult, status int) bool {
	for _, r := range results {
		if r.Status == status {
			return true
		}
	}
	return false
}

// sortedJSON re-encodes valid JSON with the keys of its objects sorted, so
// that a task that did not decode is fingerprinted whatever its key order.
func sortedJSON(raw []byte) []byte {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}
