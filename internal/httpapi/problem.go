package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// ProblemTypeBase prefixes the type URI of every problem the API answers
// with; the fragment names a section of docs/api.md.
const ProblemTypeBase = "https://github.com/tuskq/tuskq/blob/main/docs/api.md#"

// Problem types (the fragment of the type URI).
const (
	ProblemInvalidRequest   = "invalid-request"
	ProblemUnauthorized     = "unauthorized"
	ProblemForbidden        = "forbidden"
	ProblemNotFound         = "not-found"
	ProblemMethodNotAllowed = "method-not-allowed"
	ProblemTooLarge         = "body-too-large"
	ProblemUnsupportedMedia = "unsupported-media-type"
	ProblemDuplicateTask    = "duplicate-task"
	ProblemTaskIDConflict   = "task-id-conflict"
	ProblemIdempotencyReuse = "idempotency-key-reused"
	ProblemIdempotencyBusy  = "idempotency-key-in-use"
	ProblemTaskFinished     = "task-finished"
	ProblemUnavailable      = "redis-unavailable"
	ProblemEnqueueTimeout   = "enqueue-timeout"
	ProblemNotReplicated    = "not-replicated"
	ProblemInternal         = "internal-error"
	ProblemHostNotAllowed   = "host-not-allowed"
	ProblemTooManyFailures  = "too-many-failed-tokens"
)

// ContentTypeProblem is the media type of every error answer (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// FieldError is one invalid part of a request: a body field ("delay",
// "tasks[3].queue", "headers.tenant"), a header ("Idempotency-Key") or the
// body itself ("body").
type FieldError struct {
	// Field names the part of the request at fault.
	Field string `json:"field"`
	// Detail says what is wrong and what would be accepted.
	Detail string `json:"detail"`
}

// Problem is an RFC 9457 problem details object, with the "errors"
// extension listing every invalid field.
type Problem struct {
	// Type is a URI identifying the kind of problem: ProblemTypeBase
	// followed by one of the Problem* constants.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem; it does not change
	// between occurrences.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail"`
	// Errors lists every invalid field of a 400 answer, and the field at
	// fault of a 403.
	Errors []FieldError `json:"errors,omitempty"`
}

// titles are the fixed titles of the problem types.
var titles = map[string]string{
	ProblemInvalidRequest:   "The request is not valid",
	ProblemUnauthorized:     "Authentication required",
	ProblemForbidden:        "The token may not do this",
	ProblemNotFound:         "Not found",
	ProblemMethodNotAllowed: "Method not allowed",
	ProblemTooLarge:         "The request body is too large",
	ProblemUnsupportedMedia: "The request body must be JSON",
	ProblemDuplicateTask:    "An equal task already exists",
	ProblemTaskIDConflict:   "The task ID is already used",
	ProblemIdempotencyReuse: "The Idempotency-Key was used for a different request",
	ProblemIdempotencyBusy:  "A request with this Idempotency-Key is in progress",
	ProblemTaskFinished:     "The task finished before it could be cancelled",
	ProblemUnavailable:      "Redis is unavailable",
	ProblemEnqueueTimeout:   "Redis did not answer the enqueue in time",
	ProblemNotReplicated:    "The task is stored but not yet on enough replicas",
	ProblemInternal:         "Internal error",
	ProblemHostNotAllowed:   "Host not allowed",
	ProblemTooManyFailures:  "Too many requests with a wrong token",
}

// newProblem builds a problem of the given kind.
func newProblem(kind string, status int, detail string, errs ...FieldError) *Problem {
	return &Problem{Type: ProblemTypeBase + kind, Title: titles[kind], Status: status, Detail: detail, Errors: errs}
}

// invalid is a 400 problem listing errs; its detail joins them.
func invalid(errs ...FieldError) *Problem {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Detail
	}
	return newProblem(ProblemInvalidRequest, http.StatusBadRequest, strings.Join(parts, "; "), errs...)
}

// Kind returns the problem type without ProblemTypeBase.
func (p *Problem) Kind() string { return strings.TrimPrefix(p.Type, ProblemTypeBase) }

// Error makes a Problem an error: "status title: detail".
func (p *Problem) Error() string {
	return strconv.Itoa(p.Status) + " " + p.Title + ": " + p.Detail
}

// writeProblem answers with p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *Problem) {
	body, _ := json.Marshal(p) // strings and ints only: cannot fail
	h := w.Header()
	h.Set("Content-Type", ContentTypeProblem)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusServiceUnavailable || p.Kind() == ProblemIdempotencyBusy {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSON answers with v as application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, newProblem(ProblemInternal, http.StatusInternalServerError, "the answer could not be encoded"))
		return
	}
	writeJSONBytes(w, status, append(body, '\n'))
}

// writeJSONBytes answers with an encoded JSON body.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
