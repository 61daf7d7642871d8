package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/suggest"
	"github.com/tuskq/tuskq/internal/taskspec"
)

// scheduleFields are the schedule's own fields.
var scheduleFields = []string{FieldCron, FieldTimeZone, FieldJitter, FieldMissed, FieldOverlap}

// taskFields are the task fields a schedule takes, decoded by taskspec.
var taskFields = []string{
	taskspec.FieldType, taskspec.FieldPayload, taskspec.FieldPayloadBase64, taskspec.FieldQueue,
	taskspec.FieldMaxRetry, taskspec.FieldTimeout, taskspec.FieldUnique, taskspec.FieldRetention, taskspec.FieldHeaders,
}

// refused are the task fields each tick sets, with the reason.
var refused = map[string]string{
	taskspec.FieldDelay:       "a schedule's tasks run at their tick; use jitter to spread them",
	taskspec.FieldAt:          "a schedule's tasks run at their tick; set cron instead",
	taskspec.FieldDeadline:    "a deadline is a fixed time, which every tick would pass; set timeout instead",
	taskspec.FieldID:          "each tick's task ID is derived from the schedule name and the tick (sched:NAME:UNIXSEC)",
	taskspec.FieldTraceparent: "each tick's task starts a new trace",
}

// Fields lists every field of a schedule object, in the order messages
// name them.
func Fields() []string { return append(slices.Clone(scheduleFields), taskFields...) }

// Decode decodes and checks the schedule object data named name. prefix
// goes before every field in problems ("schedules.nightly." in the
// configuration). It reports every problem at once.
func Decode(name string, data []byte, prefix string) (*Schedule, taskspec.Problems) {
	var ps taskspec.Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, taskspec.Problem{Field: prefix + field, Detail: fmt.Sprintf(format, args...)})
	}
	whole := strings.TrimSuffix(prefix, ".")
	if whole == "" {
		whole = "body"
	}
	if msg := CheckName(name); msg != "" {
		ps = append(ps, taskspec.Problem{Field: "name", Detail: msg})
	}
	if len(bytes.TrimSpace(data)) == 0 || !json.Valid(data) {
		detail := "empty; send a JSON object such as " + example
		if len(bytes.TrimSpace(data)) > 0 {
			detail = taskspec.SyntaxProblem(data)
		}
		return nil, append(ps, taskspec.Problem{Field: whole, Detail: detail})
	}
	members, err := jsonscan.Members(data)
	if err != nil {
		if errors.Is(err, jsonscan.ErrNotObject) {
			return nil, append(ps, taskspec.Problem{Field: whole, Detail: "expected a JSON object such as " + example + ", got " + jsonscan.Kind(data)})
		}
		return nil, append(ps, taskspec.Problem{Field: whole, Detail: err.Error()})
	}
	own := map[string][]byte{}
	var task bytes.Buffer
	task.WriteByte('{')
	seen := map[string]bool{}
	for _, m := range members {
		switch {
		case seen[m.Name]:
			add(m.Name, "appears twice; give each field once")
			continue
		case slices.Contains(scheduleFields, m.Name):
			own[m.Name] = m.Value
		case slices.Contains(taskFields, m.Name):
			if task.Len() > 1 {
				task.WriteByte(',')
			}
			task.WriteString(strconv.Quote(m.Name))
			task.WriteByte(':')
			task.Write(m.Value)
		case refused[m.Name] != "":
			add(m.Name, "not accepted in a schedule: %s", refused[m.Name])
		default:
			unknown(add, m.Name)
		}
		seen[m.Name] = true
	}
	task.WriteByte('}')
	s := &Schedule{Name: name, Missed: MissedSkip, Overlap: OverlapAllow}
	t, tps := taskspec.DecodeJSON(task.Bytes(), prefix, time.Time{})
	ps = append(ps, tps...)
	s.Task = t
	str := func(field string) (string, bool) {
		raw, ok := own[field]
		if !ok {
			return "", false
		}
		if len(raw) == 0 || raw[0] != '"' {
			add(field, "expected a string, got %s", jsonscan.Kind(raw))
			return "", false
		}
		v, err := jsonscan.Unquote(raw)
		if err != nil {
			add(field, "%v", err)
			return "", false
		}
		return v, true
	}
	loc := time.UTC
	if v, ok := str(FieldTimeZone); ok && v != "" && v != "UTC" {
		l, err := time.LoadLocation(v)
		if err != nil || strings.EqualFold(v, "local") {
			add(FieldTimeZone, "%q is not an IANA time zone; use a name such as UTC, Europe/Paris or America/New_York", v)
		} else {
			loc = l
			s.TimeZone = v
		}
	}
	if v, ok := str(FieldCron); ok {
		spec, err := ParseCron(v, loc)
		if err != nil {
			add(FieldCron, "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		} else {
			s.Cron, s.spec = v, spec
		}
	} else if _, given := own[FieldCron]; !given {
		add(FieldCron, `missing; every schedule needs a cron spec such as "0 0 3 * * *" or "@every 1m"`)
	}
	if v, ok := str(FieldJitter); ok {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			add(FieldJitter, "%q is not a duration; use Go syntax such as 30s or 5m", v)
		case d < 0 || d > MaxJitter:
			add(FieldJitter, "%s is out of range; expected 0 to %s", d, MaxJitter)
		default:
			s.Jitter = d
		}
	}
	if v, ok := str(FieldMissed); ok {
		switch v {
		case MissedSkip, MissedOnce, MissedAll:
			s.Missed = v
		default:
			add(FieldMissed, "%q is not a missed-tick policy; use skip (the default), once or all", v)
		}
	}
	if v, ok := str(FieldOverlap); ok {
		switch v {
		case OverlapAllow, OverlapSkip:
			s.Overlap = v
		default:
			add(FieldOverlap, "%q is not an overlap policy; use allow (the default) or skip", v)
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return s, nil
}

// example is the shape of a schedule object, for messages.
const example = `{"cron":"@every 1m","type":"report:send"}`

func unknown(add func(field, format string, args ...any), name string) {
	shown := name
	if shown == "" {
		shown = `""`
	}
	all := Fields()
	if best, dist := suggest.Closest(strings.ToLower(name), all); dist >= 0 && dist <= 2 && 2*dist < len(name) {
		add(shown, "unknown field (did you mean %q?)", best)
		return
	}
	add(shown, "unknown field; the fields are %s", strings.Join(all, ", "))
}

// MarshalJSON encodes s as the object Decode takes, with the defaults
// written out.
func (s *Schedule) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		FieldCron:          s.Cron,
		FieldMissed:        s.Missed,
		FieldOverlap:       s.Overlap,
		taskspec.FieldType: s.Task.Type,
		FieldTimeZone:      cmpOr(s.TimeZone, "UTC"),
	}
	// No queue stays no queue: the type's route decides when it runs.
	if q := s.Task.Options.Queue; q != "" {
		m[taskspec.FieldQueue] = q
	}
	if s.Jitter > 0 {
		m[FieldJitter] = s.Jitter.String()
	}
	js, b64 := taskspec.JSONOrBase64(s.Task.Payload)
	switch {
	case js != nil:
		m[taskspec.FieldPayload] = js
	case b64 != "":
		m[taskspec.FieldPayloadBase64] = b64
	}
	o := s.Task.Options
	if o.MaxRetry != nil {
		m[taskspec.FieldMaxRetry] = *o.MaxRetry
	}
	if o.Timeout > 0 {
		m[taskspec.FieldTimeout] = o.Timeout.String()
	}
	if o.UniqueTTL > 0 {
		m[taskspec.FieldUnique] = o.UniqueTTL.String()
	}
	if o.Retention > 0 {
		m[taskspec.FieldRetention] = o.Retention.String()
	}
	if len(o.Headers) > 0 {
		m[taskspec.FieldHeaders] = o.Headers
	}
	return json.Marshal(m)
}

// Queue is the queue of the schedule's tasks: the one it names, else
// "default".
func (s *Schedule) Queue() string { return cmpOr(s.Task.Options.Queue, "default") }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
