package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// readRequest reads what POST /v1/tasks and /v1/tasks/batch share: the
// JSON body and the Idempotency-Key header. On a problem it has answered
// the request and ok is false.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (body []byte, key string, ok bool) {
	body, prob := h.readBody(w, r)
	if prob == nil {
		key, prob = idempotencyKey(r)
	}
	if prob != nil {
		writeProblem(w, prob)
		return nil, "", false
	}
	return body, key, true
}

// readBody reads a JSON request body of at most api.max_body_bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Problem) {
	return h.readBodyLimit(w, r, int64(h.api.MaxBodyBytes), "(api.max_body_bytes); send fewer or smaller tasks")
}

// jsonContentType returns a 415 problem unless r's body is JSON.
func jsonContentType(r *http.Request) *Problem {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		got := "no Content-Type"
		if ct != "" {
			got = "Content-Type " + strconv.Quote(ct)
		}
		return newProblem(ProblemUnsupportedMedia, http.StatusUnsupportedMediaType,
			fmt.Sprintf("the request has %s; send a JSON body with Content-Type: application/json", got))
	}
	return nil
}

// readBodyLimit reads a JSON body of at most limit bytes; hint follows the
// limit in the 413 problem's detail.
func (h *Handler) readBodyLimit(w http.ResponseWriter, r *http.Request, limit int64, hint string) ([]byte, *Problem) {
	if prob := jsonContentType(r); prob != nil {
		return nil, prob
	}
	tooLarge := newProblem(ProblemTooLarge, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the body is larger than %d bytes %s", limit, hint))
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, invalid(FieldError{Field: "body", Detail: fmt.Sprintf("could not be read: %v", err)})
	}
	return body, nil
}

// idempotencyKey returns the request's Idempotency-Key; "" when it has
// none.
func idempotencyKey(r *http.Request) (string, *Problem) {
	vals := r.Header.Values(HeaderIdempotencyKey)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], checkIdempotencyKey(vals[0])
	}
	return "", invalid(FieldError{Field: HeaderIdempotencyKey, Detail: "sent more than once; send one key per request"})
}

// prepare checks a decoded task against the token's scope, the known
// queues and the payload schema, and settles its queue and trace headers.
// probs are the problems decoding found: they are reported together with
// an unknown queue and a refused payload, every problem of the task at
// once (a task outside the token's scope is refused first, as 403, when
// its type and queue decoded). prefix names the task in errors ("" or
// "tasks[3].").
func (h *Handler) prepare(ctx context.Context, p *principal, prefix string, req *TaskRequest, probs taskspec.Problems, ri *reqInfo) *Problem {
	errs := fieldErrors(probs)
	typeOK, queueOK := !probs.Has(prefix+taskspec.FieldType), !probs.Has(prefix+taskspec.FieldQueue)
	queue := req.Options.Queue
	if queue == "" && typeOK {
		queue = h.routeQueue(req.Type)
	}
	if queue == "" {
		queue = "default"
	}
	if typeOK && queueOK {
		if prob := p.scope(prefix, queue, req.Type); prob != nil {
			return prob
		}
	}
	if queueOK {
		qp, err := h.queues.Check(prefix, queue)
		if err != nil {
			return h.unavailable(ctx, err)
		}
		if qp != nil { // a route's queue is always known; "default" may not be
			errs = append(errs, FieldError{Field: qp.Field, Detail: qp.Detail})
		}
	}
	if h.validator != nil && typeOK && !probs.Has(prefix+taskspec.FieldPayload) && !probs.Has(prefix+taskspec.FieldPayloadBase64) {
		if err := h.validator.ValidatePayload(ctx, req.Type, req.Payload); err != nil {
			errs = append(errs, FieldError{Field: prefix + "payload", Detail: err.Error()})
		}
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	req.Options.Queue = queue
	if th := ri.traceHeaders(); th != nil && req.Options.Headers[tasks.HeaderTraceparent] == "" {
		if req.Options.Headers == nil {
			req.Options.Headers = th
		} else {
			maps.Copy(req.Options.Headers, th)
		}
	}
	return nil
}

// routeQueue returns the queue of the route of taskType, resolved as
// tasks.Client does: the exact type, else the longest prefix pattern.
func (h *Handler) routeQueue(taskType string) string {
	rc, _ := config.Config{Routes: h.routes}.Route(taskType)
	return rc.Queue
}

// create serves POST /v1/tasks.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, p *principal) {
	ctx := r.Context()
	ri := infoOf(ctx)
	body, key, ok := h.readRequest(w, r)
	if !ok {
		return
	}
	req, probs := decodeTask(body, "")
	fp := fingerprint("POST "+PathTasks, canonical(req)) // before prepare adds to it
	if prob := h.prepare(ctx, p, "", &req, probs, ri); prob != nil {
		writeProblem(w, prob)
		return
	}
	claim, answered := h.claim(ctx, w, p, key, fp)
	if answered {
		return
	}
	if claim != nil {
		if req.Options.TaskID == "" {
			req.Options.TaskID = claim.taskID
		}
	}
	if req.Options.TaskID == "" {
		// Every task gets its ID here, so that an enqueue-timeout problem
		// can name it.
		req.Options.TaskID = uuid.NewString()
	}
	tc, prob := h.enqueue(ctx, &req, claim != nil && req.Options.TaskID == claim.taskID)
	if prob != nil {
		if claim != nil {
			h.release(ctx, claim)
		}
		writeProblem(w, prob)
		return
	}
	ri.traceID = tc.TraceID
	out, _ := json.Marshal(tc) // strings only: cannot fail
	out = append(out, '\n')
	if claim != nil {
		if err := h.idem.finish(context.WithoutCancel(ctx), claim, fp, http.StatusCreated, out); err != nil {
			h.logger.WarnContext(ctx, "idempotent answer not stored; a retry with the same key may enqueue again",
				"error", err)
		}
	}
	w.Header().Set("Location", taskPath(tc.Queue, tc.ID))
	writeJSONBytes(w, http.StatusCreated, out)
}

// claim takes the request's Idempotency-Key (when key is not empty) for
// the request of fingerprint fp. It returns the claim, or answered when it
// already wrote the answer: the original one for a replayed key (with
// Location for a single task), or a problem.
func (h *Handler) claim(ctx context.Context, w http.ResponseWriter, p *principal, key, fp string) (c *idemClaim, answered bool) {
	if key == "" {
		return nil, false
	}
	c, prob, err := h.idem.begin(ctx, p.name, key, fp)
	switch {
	case err != nil:
		writeProblem(w, h.unavailable(ctx, err))
		return nil, true
	case prob != nil:
		writeProblem(w, prob)
		return nil, true
	case c.replay != nil:
		w.Header().Set(HeaderReplayed, "true")
		if loc := locationOf(c.replay.Body); loc != "" {
			w.Header().Set("Location", loc)
		}
		writeJSONBytes(w, c.replay.Status, c.replay.answer())
		return nil, true
	}
	return c, false
}

// locationOf returns the task path of a stored TaskCreated answer.
func locationOf(body []byte) string {
	var tc TaskCreated
	if json.Unmarshal(body, &tc) != nil || tc.ID == "" {
		return ""
	}
	return taskPath(tc.Queue, tc.ID)
}

// release frees an idempotency key after a request that stored nothing.
func (h *Handler) release(ctx context.Context, c *idemClaim) {
	if err := h.idem.abandon(context.WithoutCancel(ctx), c); err != nil {
		h.logger.WarnContext(ctx, "idempotency key not released; it frees itself within 30s", "error", err)
	}
}

// enqueue stores one prepared task. derivedID says its ID comes from an
// Idempotency-Key, so that an existing task with that ID is the one an
// earlier attempt of the same request stored. A request received in full
// is carried out even if the client goes away meanwhile: the enqueue does
// not inherit the request's cancellation.
func (h *Handler) enqueue(ctx context.Context, req *TaskRequest, derivedID bool) (*TaskCreated, *Problem) {
	info, err := h.client.Enqueue(context.WithoutCancel(ctx), req.Type, req.Payload, &req.Options)
	if err == nil {
		tc := created(info.TaskInfo, info.TraceID)
		return &tc, nil
	}
	return h.enqueueFailure(ctx, "", req, derivedID, err)
}

// enqueueFailure turns an enqueue error into the answer; prefix names the
// task in errors ("" or "tasks[3].").
func (h *Handler) enqueueFailure(ctx context.Context, prefix string, req *TaskRequest, derivedID bool, err error) (*TaskCreated, *Problem) {
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict) && derivedID:
		info, gerr := h.insp.GetTaskInfo(req.Options.Queue, req.Options.TaskID)
		if gerr != nil {
			return nil, h.unavailable(ctx, gerr)
		}
		tc := created(info, tasks.TraceIDFromHeaders(info.Headers))
		return &tc, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil, newProblem(ProblemTaskIDConflict, http.StatusConflict,
			fmt.Sprintf("task ID %q is already used by a task in queue %q; leave id out to get a generated one", req.Options.TaskID, req.Options.Queue),
			FieldError{Field: prefix + "id", Detail: "already used in this queue"})
	case errors.Is(err, asynq.ErrDuplicateTask):
		detail := "an equal task (same type, queue and payload) holds the uniqueness lock: with unique_key, one of the same queue and key; " +
			"until it ends (unique until_end, or unique_key alone) or for the unique duration"
		if req.Options.UniqueKey != "" {
			detail = fmt.Sprintf("unique key %q of queue %q is held by an equal task: refused until it ends (or, with a unique duration, until that expires)",
				req.Options.UniqueKey, req.Options.Queue)
		}
		return nil, newProblem(ProblemDuplicateTask, http.StatusConflict, detail)
	case errors.Is(err, tasks.ErrBadOptions):
		return nil, invalid(FieldError{Field: bodyField(prefix), Detail: err.Error()})
	case errors.Is(err, tasks.ErrNotReplicated):
		h.logger.WarnContext(ctx, "enqueue not replicated", "error", err)
		return nil, newProblem(ProblemNotReplicated, http.StatusServiceUnavailable,
			fmt.Sprintf("the task (id %q) is stored, but fewer replicas than enqueue.wait_replicas confirmed it within %s, "+
				"so a failover could lose it; retry, with the same Idempotency-Key or id, and it cannot be stored twice", req.Options.TaskID, h.timeout))
	case errors.Is(err, tasks.ErrEnqueueTimeout):
		h.logger.WarnContext(ctx, "enqueue timed out", "error", err)
		return nil, h.problemEnqueueTimeout(req.Options.TaskID, errors.Is(err, tasks.ErrOutcomeUnknown))
	}
	return nil, h.unavailable(ctx, err)
}

// problemEnqueueTimeout is the 503 answer when Redis did not answer the
// enqueue of the task id within enqueue.timeout ("" for a whole batch).
// Redis refuses the command after that deadline, so a retry cannot store
// the task twice. unknown tells that the command reached Redis without its
// reply coming back (tasks.ErrOutcomeUnknown): the task may have been
// stored, and the answer says so rather than claim it was not. A batch
// answer covers both cases.
func (h *Handler) problemEnqueueTimeout(id string, unknown bool) *Problem {
	what := "the task (id " + strconv.Quote(id) + ") was not stored; retry, with the same Idempotency-Key or id, and it cannot be stored twice"
	switch {
	case id == "":
		what = "its tasks may or may not have been stored; retry, with the same Idempotency-Key or ids, and no task can be stored twice"
	case unknown:
		what = "the task (id " + strconv.Quote(id) + ") may have been stored; retry, with the same Idempotency-Key or id, and it cannot be stored twice"
	}
	return newProblem(ProblemEnqueueTimeout, http.StatusServiceUnavailable,
		fmt.Sprintf("Redis did not answer within %s (enqueue.timeout) and %s", h.timeout, what))
}

// unavailable turns a failure to use Redis into a 503 problem, and any
// other error into a 500; both are logged (error texts hold no secrets).
func (h *Handler) unavailable(ctx context.Context, err error) *Problem {
	if redisDown(err) {
		h.logger.WarnContext(ctx, "redis unavailable", "error", err)
		return problemUnavailable()
	}
	h.logger.ErrorContext(ctx, "request failed", "error", err)
	return newProblem(ProblemInternal, http.StatusInternalServerError, "the request failed; the server log has the details")
}

// problemUnavailable is the 503 answer when Redis cannot be used.
func problemUnavailable() *Problem {
	return newProblem(ProblemUnavailable, http.StatusServiceUnavailable,
		"Redis does not answer; retry later, with the same Idempotency-Key if the request had one")
}

// redisDown reports whether err means Redis could not be used: a network
// error, a closed or exhausted pool, a timeout, or a Redis that refuses
// writes for now (loading, failing over, read-only replica).
func redisDown(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "connection refused", "i/o timeout", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
