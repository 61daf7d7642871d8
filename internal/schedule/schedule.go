// Package schedule is the one definition of a periodic task (a schedule):
// its fields, the one decoder every door uses (the configuration's
// schedules section, the enqueue CLI, the HTTP API and the store in
// Redis), its cron spec and the ticks it produces, and the rule that turns
// the ticks due since the last one into the tasks to enqueue (the
// missed-tick policy).
//
// A schedule is a JSON object:
//
//	{"cron": "0 30 2 * * *", "time_zone": "Europe/Paris", "jitter": "10s",
//	 "missed": "once", "overlap": "skip",
//	 "type": "report:nightly", "payload": {"full": true}, "queue": "low",
//	 "max_retry": 3, "timeout": "10m", "retention": "1h", "headers": {"team": "ops"}}
//
// The task fields (type, payload or payload_base64, queue, max_retry,
// timeout, unique, retention, headers) are decoded by internal/taskspec,
// as for any task; the fields that fix a task's time or identity (delay,
// at, deadline, id, traceparent) are refused, since each tick sets them.
//
// # Cron
//
// cron is robfig/cron/v3's syntax with an optional seconds field (six
// fields: second minute hour day-of-month month day-of-week; five fields
// start at second 0) and its descriptors (@yearly, @monthly, @weekly,
// @daily, @hourly, @every DURATION). @every ticks at the multiples of its
// duration since the Unix epoch (whole seconds, at least 1s), so every
// replica computes the same tick times. Cron fields are read in time_zone
// (an IANA name; UTC when empty).
//
// Daylight saving time: a tick is a wall-clock time in time_zone. A
// wall-clock time that does not exist on a spring-forward day (02:30 when
// clocks jump from 02:00 to 03:00) does not tick that day: a daily 02:30
// schedule skips that day, an hourly one goes from 01:30 to 03:30. A
// wall-clock time that occurs twice on an autumn day (02:30 when clocks
// fall back from 03:00 to 02:00) ticks once, at its first occurrence: a
// daily 02:30 schedule runs once, an hourly one has one two-hour interval.
// Schedules that must tick every day at the same interval use UTC (the
// default) or @every. TestDST pins both rules.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tuskq/tuskq/internal/taskspec"
)

// The schedule's own fields, as JSON objects and messages name them.
const (
	FieldCron     = "cron"
	FieldTimeZone = "time_zone"
	FieldJitter   = "jitter"
	FieldMissed   = "missed"
	FieldOverlap  = "overlap"
)

// Missed-tick policies.
const (
	// MissedSkip drops ticks that were not enqueued on time (the default).
	MissedSkip = "skip"
	// MissedOnce enqueues one task for all the ticks missed, standing for
	// the newest of them.
	MissedOnce = "once"
	// MissedAll enqueues a task for every missed tick, up to MaxCatchUp.
	MissedAll = "all"
)

// Overlap policies.
const (
	// OverlapAllow enqueues every tick (the default).
	OverlapAllow = "allow"
	// OverlapSkip skips a tick while the task of the previous tick is still
	// pending, scheduled, active or waiting for a retry.
	OverlapSkip = "skip"
)

// Bounds.
const (
	// MaxCatchUp is the most missed ticks the all policy enqueues at once:
	// the newest MaxCatchUp; older ones are counted as missed.
	MaxCatchUp = 100
	// MaxNameLength is the longest schedule name, in bytes.
	MaxNameLength = 100
	// MaxJitter bounds jitter.
	MaxJitter = time.Hour
	// MaxGrace is the longest a tick may be late and still count as on
	// time (see Grace).
	MaxGrace = time.Minute
)

// ErrInvalid is wrapped by the errors of Parse and by Problems.
var ErrInvalid = errors.New("invalid schedule")

// Schedule is a decoded, valid schedule.
type Schedule struct {
	// Name identifies the schedule; task IDs and the store key on it.
	Name string
	// Cron is the spec as given.
	Cron string
	// TimeZone is the IANA zone the cron fields are read in; "" is UTC.
	TimeZone string
	// Jitter, when positive, delays each tick's task by a random duration
	// in [0, Jitter).
	Jitter time.Duration
	// Missed is MissedSkip, MissedOnce or MissedAll.
	Missed string
	// Overlap is OverlapAllow or OverlapSkip.
	Overlap string
	// Task is the task each tick enqueues.
	Task taskspec.Task

	spec cron.Schedule
}

// Next returns the first tick strictly after t.
func (s *Schedule) Next(t time.Time) time.Time {
	return s.spec.Next(t)
}

// Grace is how late a tick may be enqueued and still be on time: the
// interval from the tick to the next one, at least 1s and at most
// MaxGrace. A tick later than that is missed, and the missed policy
// decides.
func (s *Schedule) Grace(tick time.Time) time.Duration {
	g := s.Next(tick).Sub(tick)
	return min(max(g, time.Second), MaxGrace)
}

// every ticks at the multiples of d since the Unix epoch.
type every struct{ d time.Duration }

func (e every) Next(t time.Time) time.Time {
	sec := int64(e.d / time.Second)
	u := t.Unix()
	if u < 0 {
		return time.Unix(0, 0).In(t.Location())
	}
	return time.Unix((u/sec+1)*sec, 0).In(t.Location())
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron spec read in loc. The message of the error says
// what is wrong and what is accepted.
func ParseCron(spec string, loc *time.Location) (cron.Schedule, error) {
	t := strings.TrimSpace(spec)
	switch {
	case t == "":
		return nil, fmt.Errorf("%w: the cron spec is empty; use for example \"0 30 2 * * *\" (second minute hour day month weekday), \"@hourly\" or \"@every 10m\"", ErrInvalid)
	case strings.HasPrefix(t, "TZ=") || strings.HasPrefix(t, "CRON_TZ="):
		return nil, fmt.Errorf("%w: %q: a time zone prefix is not accepted in the spec; set time_zone instead", ErrInvalid, spec)
	case strings.HasPrefix(t, "@every"):
		rest := strings.TrimSpace(strings.TrimPrefix(t, "@every"))
		d, err := time.ParseDuration(rest)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %q: @every takes a duration such as 1s, 30s or 1h30m", ErrInvalid, spec)
		case d < time.Second || d%time.Second != 0:
			return nil, fmt.Errorf("%w: %q: the @every duration must be whole seconds, at least 1s", ErrInvalid, spec)
		case d > 366*24*time.Hour:
			return nil, fmt.Errorf("%w: %q: the @every duration must be at most 8784h (366 days)", ErrInvalid, spec)
		}
		return every{d}, nil
	}
	sched, err := parser.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %s; use six fields (second minute hour day month weekday), five (minute first), or a descriptor such as @hourly or @every 10m", ErrInvalid, spec, err.Error())
	}
	ss, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%w: %q: unsupported spec", ErrInvalid, spec)
	}
	ss.Location = loc
	// A spec that never matches (30 February) would make Next search for
	// five years on every call.
	if ss.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, fmt.Errorf("%w: %q never matches a date", ErrInvalid, spec)
	}
	if loc == time.UTC {
		return ss, nil
	}
	return onceInAutumn{ss}, nil
}

// onceInAutumn drops the second occurrence of a wall-clock time repeated
// when the clocks fall back (robfig/cron/v3 ticks at both).
type onceInAutumn struct{ *cron.SpecSchedule }

func (s onceInAutumn) Next(t time.Time) time.Time {
	for {
		n := s.SpecSchedule.Next(t)
		if n.IsZero() || !repeated(n) {
			return n
		}
		t = n
	}
}

// repeated reports whether the wall-clock time of t occurred earlier the
// same day, before the clocks fell back.
func repeated(t time.Time) bool {
	_, now := t.Zone()
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-back)
		if _, off := e.Zone(); off-now == int(back/time.Second) {
			y1, m1, d1 := t.Date()
			y2, m2, d2 := e.Date()
			if y1 == y2 && m1 == m2 && d1 == d2 && t.Hour() == e.Hour() && t.Minute() == e.Minute() && t.Second() == e.Second() {
				return true
			}
		}
	}
	return false
}

// CheckName returns what is wrong with a schedule name, or "".
func CheckName(name string) string {
	switch {
	case name == "":
		return "the schedule name is empty; use letters, digits, '.', '_' and '-', such as nightly-report"
	case len(name) > MaxNameLength:
		return fmt.Sprintf("the schedule name is %d bytes long; the limit is %d", len(name), MaxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("%q has the character %q; use letters, digits, '.', '_' and '-'", name, r)
		}
	}
	return ""
}

// TaskID is the ID of the task that stands for tick of the schedule name:
// every replica derives the same one, so Redis refuses a second enqueue.
func TaskID(name string, tick time.Time) string {
	return fmt.Sprintf("sched:%s:%d", name, tick.Unix())
}

// Headers a scheduled task carries.
const (
	// HeaderSchedule is the schedule's name.
	HeaderSchedule = "tuskq-schedule"
	// HeaderTick is the tick the task stands for, in RFC 3339 (UTC).
	HeaderTick = "tuskq-schedule-tick"
	// HeaderMissed, on a catch-up task of the once policy, is the number of
	// ticks it stands for.
	HeaderMissed = "tuskq-schedule-missed"
)
