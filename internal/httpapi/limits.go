package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tuskq/tuskq/internal/limits"
)

// Paths of the limit endpoints (tokens with the admin scope only).
const (
	PathLimits = "/v1/limits"
	PathLimit  = "/v1/limits/{name}"
)

// LimitList is the answer of GET /v1/limits: the effective limits, as
// `worker limits list --json` prints them.
type LimitList struct {
	// Limits are the configured limits merged with the run-time ones, by
	// name.
	Limits []limits.Entry `json:"limits"`
}

// listLimits serves GET /v1/limits.
func (h *Handler) listLimits(w http.ResponseWriter, r *http.Request, p *principal) {
	if prob := p.requireAdmin("use the limits endpoints"); prob != nil {
		writeProblem(w, prob)
		return
	}
	configured, err := h.opts.Config.ParsedLimits()
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	entries, err := limits.NewStore(h.rdb).List(r.Context(), configured)
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	if entries == nil {
		entries = []limits.Entry{}
	}
	writeJSON(w, http.StatusOK, LimitList{Limits: entries})
}

// limitBody is the body of PUT /v1/limits/{name}: a limit's fields, each
// a string or a number.
type limitBody struct {
	Name        flexString `json:"name"`
	Type        flexString `json:"type"`
	Queue       flexString `json:"queue"`
	Concurrency flexString `json:"concurrency"`
	Rate        flexString `json:"rate"`
	Burst       flexString `json:"burst"`
	Key         flexString `json:"key"`
	MaxKeys     flexString `json:"max_keys"`
}

// flexString is a JSON string, or a number kept as its text.
type flexString string

// UnmarshalJSON accepts a string or a number.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

// putLimit serves PUT /v1/limits/{name}: it sets the run-time limit NAME
// on every worker (replacing the configured one of that name, if any), as
// `worker limits set` does.
func (h *Handler) putLimit(w http.ResponseWriter, r *http.Request, p *principal) {
	if prob := p.requireAdmin("use the limits endpoints"); prob != nil {
		writeProblem(w, prob)
		return
	}
	name := r.PathValue("name")
	body, prob := h.readBody(w, r)
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	var b limitBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeProblem(w, invalid(FieldError{Field: "body", Detail: "a JSON object of name, type, queue, concurrency, rate, burst, key and max_keys: " + jsonDetail(err)}))
		return
	}
	if b.Name != "" && string(b.Name) != name {
		writeProblem(w, invalid(FieldError{Field: "name", Detail: fmt.Sprintf("%q differs from the name in the path (%q); leave it out or make them equal", b.Name, name)}))
		return
	}
	lim, err := limits.Parse(limits.Raw{
		Name: name, Type: string(b.Type), Queue: string(b.Queue), Concurrency: string(b.Concurrency),
		Rate: string(b.Rate), Burst: string(b.Burst), Key: string(b.Key), MaxKeys: string(b.MaxKeys),
	})
	if err != nil {
		writeProblem(w, invalid(FieldError{Field: limitField(err), Detail: strings.TrimPrefix(err.Error(), limits.ErrBadLimit.Error()+": ")}))
		return
	}
	if err := limits.NewStore(h.rdb).Set(r.Context(), lim); err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	writeJSON(w, http.StatusOK, limits.Entry{Limit: lim, Raw: lim.Raw(), Source: limits.SourceOverride})
}

// deleteLimit serves DELETE /v1/limits/{name}: it removes the run-time
// limit NAME (the configured one of that name, if any, applies again), as
// `worker limits clear` does; 404 when there is none.
func (h *Handler) deleteLimit(w http.ResponseWriter, r *http.Request, p *principal) {
	if prob := p.requireAdmin("use the limits endpoints"); prob != nil {
		writeProblem(w, prob)
		return
	}
	name := r.PathValue("name")
	found, err := limits.NewStore(h.rdb).Clear(r.Context(), name)
	if err != nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	if !found {
		writeProblem(w, newProblem(ProblemNotFound, http.StatusNotFound, fmt.Sprintf(
			"no run-time limit %q; a limit of the configuration file is changed there (PUT /v1/limits/%s overrides it)", name, name)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// limitField is the body field a limits.Parse error is about
// ("limits[NAME].FIELD" in its text), "body" when it names none.
func limitField(err error) string {
	msg := err.Error()
	i := strings.Index(msg, "].")
	if i < 0 {
		return "body"
	}
	f := msg[i+2:]
	if j := strings.IndexAny(f, " :"); j >= 0 {
		f = f[:j]
	}
	return f
}

// jsonDetail is a JSON decoding error in a sentence.
func jsonDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "not valid JSON at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return err.Error()
}
