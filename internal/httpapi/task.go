package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/tasks"
)

// lookup reads the task named by the request path; it answers the problem
// itself and returns nil on failure. A task outside the token's scope
// (its queue or its type) is answered exactly as a missing one, so that a
// scoped token cannot learn which IDs exist elsewhere, nor their types.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, p *principal) *asynq.TaskInfo {
	queue, id := r.PathValue("queue"), r.PathValue("id")
	if !p.allowQueue(queue) {
		writeProblem(w, problemNoTask(queue, id))
		return nil
	}
	info, err := h.insp.GetTaskInfo(queue, id)
	if err != nil {
		writeProblem(w, h.lookupFailure(r.Context(), queue, id, err))
		return nil
	}
	if !p.allowType(info.Type) {
		writeProblem(w, problemNoTask(queue, id))
		return nil
	}
	return info
}

// problemNoTask is the answer for a task that is missing, or outside the
// token's scope.
func problemNoTask(queue, id string) *Problem {
	return newProblem(ProblemNotFound, http.StatusNotFound, fmt.Sprintf(
		"no task %q in queue %q: it never existed, was deleted, or completed without a retention", id, queue))
}

// lookupFailure turns an error of the inspector into the answer.
func (h *Handler) lookupFailure(ctx context.Context, queue, id string, err error) *Problem {
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return problemNoTask(queue, id)
	}
	return h.unavailable(ctx, err)
}

// get serves GET /v1/queues/{queue}/tasks/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, p *principal) {
	info := h.lookup(w, r, p)
	if info == nil {
		return
	}
	d := detail(info)
	// Progress is advice: a failed read leaves it out.
	d.Progress, _ = events.ReadProgress(r.Context(), h.rdb, info.Queue, info.ID)
	writeJSON(w, http.StatusOK, d)
}

// delete serves DELETE /v1/queues/{queue}/tasks/{id}: a task that is not
// running is deleted; a running one is cancelled (its worker cancels the
// processor's context and ends the task at once, whether or not the
// processor returns: archived with the error "cancelled", or deleted, as
// worker.cancelled says; never retried).
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, p *principal) {
	info := h.lookup(w, r, p)
	if info == nil {
		return
	}
	ctx := r.Context()
	res := DeleteResult{ID: info.ID, Type: info.Type, Queue: info.Queue, State: info.State.String(), Outcome: "deleted"}
	if info.State != asynq.TaskStateActive {
		err := h.insp.DeleteTask(info.Queue, info.ID)
		switch {
		case err == nil:
			// Best effort: the deletion stands whatever becomes of its event.
			_ = h.pub.Publish(ctx, events.Event{
				Kind: events.KindCancelled, Queue: info.Queue, TaskType: info.Type, TaskID: info.ID,
				TraceID: tasks.TraceIDFromHeaders(info.Headers), Error: "deleted (" + info.State.String() + ")",
				WorkflowID: info.Headers[events.HeaderWorkflow], Step: info.Headers[events.HeaderStep],
			})
			writeJSON(w, http.StatusOK, res)
			return
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			writeProblem(w, h.lookupFailure(ctx, info.Queue, info.ID, err))
			return
		}
		// It became active meanwhile: cancel it below. Any other error
		// shows again there.
		if now, gerr := h.insp.GetTaskInfo(info.Queue, info.ID); gerr != nil || now.State != asynq.TaskStateActive {
			writeProblem(w, h.unavailable(ctx, err))
			return
		}
	}
	h.cancel(w, r, res)
}

// cancel asks the worker running the task to stop it, waits up to
// CancelWait for it to leave the active state, and deletes it. The
// cancellation names the queue and the ID (taskcancel): asynq's own
// CancelProcessing is by ID alone and would also reach a task of the same
// ID in a queue the token may not touch. It is published again each
// second of the wait, in case a worker was resubscribing when it was sent.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, res DeleteResult) {
	ctx := r.Context()
	if err := taskcancel.Publish(ctx, h.rdb, res.Queue, res.ID); err != nil {
		writeProblem(w, h.unavailable(ctx, err))
		return
	}
	published := time.Now()
	deadline := published.Add(h.opts.CancelWait)
	delay := 5 * time.Millisecond
	for {
		if time.Since(published) >= time.Second {
			if err := taskcancel.Publish(ctx, h.rdb, res.Queue, res.ID); err != nil {
				writeProblem(w, h.unavailable(ctx, err))
				return
			}
			published = time.Now()
		}
		info, err := h.insp.GetTaskInfo(res.Queue, res.ID)
		switch {
		case (errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)) &&
			h.opts.Config.Worker.Cancelled == config.CancelledDelete:
			// The worker deleted it (worker.cancelled delete).
			res.Outcome, res.FinalState = "cancelled", "deleted"
			writeJSON(w, http.StatusOK, res)
			return
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			writeProblem(w, newProblem(ProblemTaskFinished, http.StatusConflict, fmt.Sprintf(
				"task %q completed before the cancellation reached it; it is gone", res.ID)))
			return
		case err != nil:
			writeProblem(w, h.unavailable(ctx, err))
			return
		case info.State == asynq.TaskStateCompleted:
			writeProblem(w, newProblem(ProblemTaskFinished, http.StatusConflict, fmt.Sprintf(
				"task %q completed before the cancellation reached it; its result is kept", res.ID)))
			return
		case info.State == asynq.TaskStateArchived && info.LastErr == asynqrdb.CancelledError:
			// The worker archived it (worker.cancelled archive).
			res.Outcome, res.FinalState = "cancelled", "archived"
			writeJSON(w, http.StatusOK, res)
			return
		case info.State != asynq.TaskStateActive:
			if err := h.insp.DeleteTask(res.Queue, res.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				writeProblem(w, h.unavailable(ctx, err))
				return
			}
			res.Outcome, res.FinalState = "cancelled", "deleted"
			writeJSON(w, http.StatusOK, res)
			return
		}
		if time.Now().After(deadline) {
			res.Outcome = "cancel_requested"
			writeJSON(w, http.StatusAccepted, res)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}
