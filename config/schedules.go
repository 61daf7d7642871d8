package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tuskq/tuskq/internal/schedule"
)

// ScheduleConfig is one schedule of the schedules section: the fields of a
// schedule object (cron, time_zone, jitter, missed, overlap and the task
// fields type, payload, queue, max_retry, timeout, unique, retention,
// headers), as docs/configuration.md lists them, with their YAML values.
type ScheduleConfig map[string]any

// The schedules key is a mapping of schedule name to schedule. In a file
// it is written as YAML; in the environment (TUSKQ_SCHEDULES) and in --set
// it is the same mapping in YAML flow or JSON form:
//
//	TUSKQ_SCHEDULES='{"nightly": {"cron": "0 0 3 * * *", "type": "report:nightly"}}'
//
// Its canonical tree value is a map[string]any of name to the schedule's
// mapping; a layer replaces a schedule of the same name whole.

// schedulesKey is the key of Config.Schedules.
const schedulesKey = "schedules"

const schedulesExpected = `a mapping of schedule name to schedule, such as {nightly: {cron: "0 0 3 * * *", type: "report:nightly"}}`

// jsonable converts a decoded YAML value to one encoding/json accepts.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonable(e)
		}
		return out
	case ScheduleConfig:
		return jsonable(map[string]any(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}

// decodeSchedules checks the YAML value v of the schedules key read from
// source and returns its canonical value.
func decodeSchedules(source string, v any, p *problems) (map[string]any, bool) {
	if v == nil {
		return map[string]any{}, true
	}
	entries, badKeys, ok := yamlMap(v)
	if !ok || len(badKeys) > 0 {
		p.bad(source, schedulesKey, v, schedulesExpected, false)
		return nil, false
	}
	out := map[string]any{}
	good := true
	for _, e := range entries {
		m, ok := jsonable(e.value).(map[string]any)
		if !ok {
			p.bad(source, schedulesKey+"."+e.key, e.value, `a mapping of cron, type and the other schedule fields, such as {cron: "@hourly", type: "report:send"}`, false)
			good = false
			continue
		}
		out[e.key] = m
	}
	return out, good
}

// schedulesFromString reads the schedules key from an environment variable
// or flag value.
func schedulesFromString(source, raw string, l *layer, p *problems) {
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		p.bad(source, schedulesKey, raw, schedulesExpected, false)
		return
	}
	if s, isString := v.(string); isString && strings.TrimSpace(s) == "" {
		v = nil
	}
	if val, ok := decodeSchedules(source, v, p); ok {
		l.set([]string{schedulesKey}, val, source)
	}
}

// schedulesTree converts the schedules to their canonical tree value.
func schedulesTree(m map[string]ScheduleConfig) map[string]any {
	out := make(map[string]any, len(m))
	for name, sc := range m {
		out[name] = jsonable(sc)
	}
	return out
}

// ParseSchedules decodes the schedules section: the periodic tasks every worker
// with worker.scheduler on enqueues (internal/schedule describes the
// fields). The error, a *ValidationError, names each bad key.
func (c Config) ParseSchedules() ([]*schedule.Schedule, error) {
	v := &validator{}
	out := c.decodeSchedules(v)
	if len(v.problems) > 0 {
		return nil, &ValidationError{Problems: v.problems}
	}
	return out, nil
}

func (c Config) decodeSchedules(v *validator) []*schedule.Schedule {
	var out []*schedule.Schedule
	for _, name := range slices.Sorted(maps.Keys(c.Schedules)) {
		sc := c.Schedules[name]
		key := schedulesKey + "." + name
		js, err := json.Marshal(jsonable(sc))
		if err != nil {
			v.add(key, "a mapping", "a mapping of cron, type and the other schedule fields: "+err.Error())
			continue
		}
		s, ps := schedule.Decode(name, js, key+".")
		for _, pr := range ps {
			k := pr.Field
			var val any = "a mapping"
			if k == "name" {
				k, val = key, name
			} else if f, ok := strings.CutPrefix(k, key+"."); ok {
				if fv, ok := sc[f]; ok {
					val = fv
				} else {
					val = nil
				}
			}
			v.add(k, val, pr.Detail)
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}
