package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
)

// Paths of the schedule endpoints.
const (
	PathSchedules      = "/v1/schedules"
	PathSchedule       = "/v1/schedules/{name}"
	PathSchedulePause  = "/v1/schedules/{name}/pause"
	PathScheduleResume = "/v1/schedules/{name}/resume"
)

// ProblemScheduleInConfig is the problem type of a run-time change to a
// schedule of the configuration.
const ProblemScheduleInConfig = "schedule-in-config"

func init() {
	titles[ProblemScheduleInConfig] = "The schedule is defined in the configuration"
}

// ScheduleView is a schedule as the API shows it.
type ScheduleView struct {
	// Name is the schedule's name.
	Name string `json:"name"`
	// Source is "config" or "api".
	Source string `json:"source"`
	// Paused says no tick is enqueued.
	Paused bool `json:"paused"`
	// Next is the next tick (RFC 3339).
	Next string `json:"next,omitempty"`
	// LastRun is the newest tick a task was enqueued for.
	LastRun string `json:"last_run,omitempty"`
	// MissedTotal counts the ticks the missed-tick policy dropped.
	MissedTotal int64 `json:"missed_total"`
	// Schedule is the definition, as PUT takes it.
	Schedule *schedule.Schedule `json:"schedule"`
}

// ScheduleList is the answer of GET /v1/schedules.
type ScheduleList struct {
	// Schedules are the schedules the token may see, by name.
	Schedules []ScheduleView `json:"schedules"`
}

// ViewOf is a stored schedule as the API (and the CLI) shows it.
func ViewOf(e scheduler.Entry) ScheduleView {
	v := ScheduleView{Name: e.Schedule.Name, Source: e.Source, Paused: e.Paused, MissedTotal: e.Missed, Schedule: e.Schedule}
	if !e.Next.IsZero() {
		v.Next = e.Next.UTC().Format(time.RFC3339)
	}
	if !e.Run.IsZero() {
		v.LastRun = e.Run.UTC().Format(time.RFC3339)
	}
	return v
}

// scheduleQueue is the queue of a schedule's tasks: its own, else its
// type's route's, else default.
func (h *Handler) scheduleQueue(s *schedule.Schedule) string {
	if q := s.Task.Options.Queue; q != "" {
		return q
	}
	if q := h.routeQueue(s.Task.Type); q != "" {
		return q
	}
	return "default"
}

// visible reports whether p may see and change s: its queue and type are
// in the token's scope.
func (h *Handler) visible(p *principal, s *schedule.Schedule) bool {
	return p.allowQueue(h.scheduleQueue(s)) && p.allowType(s.Task.Type)
}

func problemNoSchedule(name string) *Problem {
	return newProblem(ProblemNotFound, http.StatusNotFound, fmt.Sprintf("no schedule %q", name))
}

// scheduleFailure turns a store error into the answer.
func (h *Handler) scheduleFailure(r *http.Request, name string, err error) *Problem {
	switch {
	case errors.Is(err, scheduler.ErrNotFound):
		return problemNoSchedule(name)
	case errors.Is(err, scheduler.ErrConfigOwned):
		return newProblem(ProblemScheduleInConfig, http.StatusConflict, fmt.Sprintf(
			"schedule %q is defined in the configuration's schedules section; change or remove it there (pausing and resuming it is allowed)", name))
	}
	return h.unavailable(r.Context(), err)
}

// listSchedules serves GET /v1/schedules.
func (h *Handler) listSchedules(w http.ResponseWriter, r *http.Request, p *principal) {
	list, err := scheduler.NewStore(h.rdb).List(r.Context(), time.Now())
	if err != nil && list == nil {
		writeProblem(w, h.unavailable(r.Context(), err))
		return
	}
	out := ScheduleList{Schedules: []ScheduleView{}}
	for _, e := range list {
		if h.visible(p, e.Schedule) {
			out.Schedules = append(out.Schedules, ViewOf(e))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// findSchedule reads the schedule of the path; one outside the token's
// scope is answered as a missing one. It answers the problem itself and
// returns false on failure.
func (h *Handler) findSchedule(w http.ResponseWriter, r *http.Request, p *principal) (scheduler.Entry, bool) {
	name := r.PathValue("name")
	e, err := scheduler.NewStore(h.rdb).Get(r.Context(), name, time.Now())
	if err != nil {
		writeProblem(w, h.scheduleFailure(r, name, err))
		return e, false
	}
	if !h.visible(p, e.Schedule) {
		writeProblem(w, problemNoSchedule(name))
		return e, false
	}
	return e, true
}

// getSchedule serves GET /v1/schedules/{name}.
func (h *Handler) getSchedule(w http.ResponseWriter, r *http.Request, p *principal) {
	if e, ok := h.findSchedule(w, r, p); ok {
		writeJSON(w, http.StatusOK, ViewOf(e))
	}
}

// putSchedule serves PUT /v1/schedules/{name}: it adds the schedule (201)
// or replaces it (200), fleet-wide.
func (h *Handler) putSchedule(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	body, prob := h.readBody(w, r)
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	s, probs := schedule.Decode(name, body, "")
	if len(probs) > 0 {
		errs := make([]FieldError, len(probs))
		for i, pr := range probs {
			errs[i] = FieldError{Field: pr.Field, Detail: pr.Detail}
		}
		writeProblem(w, invalid(errs...))
		return
	}
	if prob := p.scope("", h.scheduleQueue(s), s.Task.Type); prob != nil {
		writeProblem(w, prob)
		return
	}
	store := scheduler.NewStore(h.rdb)
	// Replacing a schedule needs the old one in scope too.
	if old, err := store.Get(r.Context(), name, time.Now()); err == nil && !h.visible(p, old.Schedule) {
		writeProblem(w, newProblem(ProblemForbidden, http.StatusForbidden,
			fmt.Sprintf("token %q may not replace schedule %q: its queue or type is outside the token's scope", p.name, name)))
		return
	}
	created, err := store.Put(r.Context(), s, scheduler.SourceAPI)
	if err != nil {
		writeProblem(w, h.scheduleFailure(r, name, err))
		return
	}
	e, err := store.Get(r.Context(), name, time.Now())
	if err != nil {
		writeProblem(w, h.scheduleFailure(r, name, err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, ViewOf(e))
}

// deleteSchedule serves DELETE /v1/schedules/{name}.
func (h *Handler) deleteSchedule(w http.ResponseWriter, r *http.Request, p *principal) {
	e, ok := h.findSchedule(w, r, p)
	if !ok {
		return
	}
	if err := scheduler.NewStore(h.rdb).Remove(r.Context(), e.Schedule.Name, scheduler.SourceAPI); err != nil {
		writeProblem(w, h.scheduleFailure(r, e.Schedule.Name, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pauseSchedule serves POST /v1/schedules/{name}/pause.
func (h *Handler) pauseSchedule(w http.ResponseWriter, r *http.Request, p *principal) {
	h.setPaused(w, r, p, true)
}

// resumeSchedule serves POST /v1/schedules/{name}/resume.
func (h *Handler) resumeSchedule(w http.ResponseWriter, r *http.Request, p *principal) {
	h.setPaused(w, r, p, false)
}

func (h *Handler) setPaused(w http.ResponseWriter, r *http.Request, p *principal, pause bool) {
	e, ok := h.findSchedule(w, r, p)
	if !ok {
		return
	}
	store := scheduler.NewStore(h.rdb)
	op := store.Resume
	if pause {
		op = store.Pause
	}
	if err := op(r.Context(), e.Schedule.Name); err != nil {
		writeProblem(w, h.scheduleFailure(r, e.Schedule.Name, err))
		return
	}
	e, err := store.Get(r.Context(), e.Schedule.Name, time.Now())
	if err != nil {
		writeProblem(w, h.scheduleFailure(r, r.PathValue("name"), err))
		return
	}
	writeJSON(w, http.StatusOK, ViewOf(e))
}
