package config

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Canonical values in a layer tree, by kind: string, int, bool,
// time.Duration, []string, map[string]int; routes are nested
// map[string]any{pattern: map[string]any{field: value}}; records (see
// records.go) are []map[string]any{{field: string}}.

// expected describes the accepted form of a kind in a file.
func expected(k kind) string {
	switch k {
	case kindInt:
		return "an integer"
	case kindBool:
		return "true or false"
	case kindFloat:
		return "a number such as 0.25"
	case kindDuration:
		return "a duration such as 30s or 1m"
	case kindStrings:
		return "a list of strings, or one comma-separated string"
	case kindWeights:
		return "a mapping of queue name to integer weight, or name=weight,name=weight"
	case kindRoutes:
		return "a mapping of task type or pattern to queue, max_retry, timeout and unique_ttl"
	case kindTokens:
		return tokensExpected
	case kindSchedules:
		return schedulesExpected
	}
	return "a string"
}

// expectedString describes the accepted string form of a kind, as given in
// the environment or a flag.
func expectedString(k kind) string {
	switch k {
	case kindStrings:
		return "a comma-separated list such as a,b"
	case kindWeights:
		return "comma-separated name=weight pairs such as critical=6,default=3,low=1"
	}
	return expected(k)
}

// parseString converts the string form of a value (an environment
// variable, a flag, or a YAML string) to its canonical value.
func parseString(k kind, s string) (any, bool) {
	t := strings.TrimSpace(s)
	switch k {
	case kindString:
		return s, true
	case kindInt:
		n, err := strconv.Atoi(t)
		return n, err == nil
	case kindBool:
		b, err := strconv.ParseBool(t)
		return b, err == nil
	case kindFloat:
		x, err := strconv.ParseFloat(t, 64)
		return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
	case kindDuration:
		d, err := time.ParseDuration(t)
		return d, err == nil
	case kindStrings:
		if t == "" {
			return []string{}, true
		}
		items := strings.Split(t, ",")
		for i, item := range items {
			items[i] = strings.TrimSpace(item)
			if items[i] == "" {
				return nil, false
			}
		}
		return items, true
	case kindWeights:
		out := map[string]int{}
		if t == "" {
			return out, true
		}
		for item := range strings.SplitSeq(t, ",") {
			name, weight, ok := strings.Cut(item, "=")
			name = strings.TrimSpace(name)
			n, err := strconv.Atoi(strings.TrimSpace(weight))
			if _, dup := out[name]; !ok || err != nil || dup {
				return nil, false
			}
			out[name] = n
		}
		return out, true
	}
	return nil, false
}

// parseYAML converts a value decoded from YAML to its canonical value.
// Null is the zero value. It never handles kindRoutes.
func parseYAML(k kind, v any) (any, bool) {
	switch v := v.(type) {
	case nil:
		return zeroOf(k), true
	case string:
		return parseString(k, v)
	case bool:
		return v, k == kindBool
	case int:
		if k == kindDuration && v == 0 {
			return time.Duration(0), true
		}
		if k == kindFloat {
			return float64(v), true
		}
		return v, k == kindInt
	case float64:
		return v, k == kindFloat && !math.IsNaN(v) && !math.IsInf(v, 0)
	case int64:
		return parseYAML(k, int(v))
	case uint64:
		if v > math.MaxInt {
			return nil, false
		}
		return parseYAML(k, int(v))
	case []any:
		if k != kindStrings {
			return nil, false
		}
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// zeroOf is the canonical zero value of a kind.
func zeroOf(k kind) any {
	switch k {
	case kindInt:
		return 0
	case kindBool:
		return false
	case kindFloat:
		return 0.0
	case kindDuration:
		return time.Duration(0)
	case kindStrings:
		return []string{}
	case kindWeights:
		return map[string]int{}
	case kindRecords:
		return []map[string]any{}
	}
	return ""
}

// display renders a value for an error message.
func display(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return v.String()
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]int:
		parts := make([]string, 0, len(v))
		for _, name := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, fmt.Sprintf("%s: %d", strconv.Quote(name), v[name]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any, []map[string]any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// yamlKey converts a YAML mapping key to a string. Keys that are not
// scalars are refused.
func yamlKey(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(k), true
	}
	return "", false
}

// yamlMap returns the entries of a YAML mapping with string keys, sorted by
// key. bad lists keys that are not scalars.
func yamlMap(v any) (entries []yamlEntry, bad []any, ok bool) {
	add := func(k, val any) {
		s, good := yamlKey(k)
		if !good {
			bad = append(bad, k)
			return
		}
		entries = append(entries, yamlEntry{s, val})
	}
	switch m := v.(type) {
	case map[string]any:
		for k, val := range m {
			add(k, val)
		}
	case map[any]any:
		for k, val := range m {
			add(k, val)
		}
	default:
		return nil, nil, false
	}
	slices.SortFunc(entries, func(a, b yamlEntry) int { return strings.Compare(a.key, b.key) })
	return entries, bad, true
}

// yamlEntry is one entry of a YAML mapping.
type yamlEntry struct {
	key   string
	value any
}
