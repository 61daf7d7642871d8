package config

import (
	"reflect"
	"strings"
	"time"
)

// defaultsLayer is Default() as a tree.
func defaultsLayer(s *schema) *layer {
	l := newLayer()
	v := reflect.ValueOf(Default())
	for _, f := range s.leaves {
		if val, ok := treeValue(f, v.FieldByIndex(f.index), s); ok {
			l.set(strings.Split(f.path, "."), val, "")
		}
	}
	return l
}

// treeValue converts a struct field to its canonical tree value; ok is
// false for an unset optional value.
func treeValue(f field, v reflect.Value, s *schema) (any, bool) {
	switch f.kind {
	case kindString:
		return v.String(), true
	case kindBool:
		return v.Bool(), true
	case kindFloat:
		return v.Float(), true
	case kindInt:
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, false
			}
			v = v.Elem()
		}
		return int(v.Int()), true
	case kindDuration:
		return time.Duration(v.Int()), true
	case kindStrings:
		return append([]string{}, v.Interface().([]string)...), true
	case kindWeights:
		out := map[string]int{}
		for name, w := range v.Interface().(map[string]int) {
			out[name] = w
		}
		return out, true
	case kindTokens:
		return tokensTree(v.Interface().([]APIToken)), true
	case kindRecords:
		return recordsTree(f, v), true
	case kindSchedules:
		if v.Len() == 0 {
			return nil, false
		}
		return schedulesTree(v.Interface().(map[string]ScheduleConfig)), true
	case kindRoutes:
		if v.Len() == 0 {
			return nil, false
		}
		out := map[string]any{}
		for pattern, rc := range v.Interface().(map[string]RouteConfig) {
			entry := map[string]any{}
			rv := reflect.ValueOf(rc)
			for _, rf := range s.route {
				if val, ok := treeValue(rf, rv.FieldByIndex(rf.index), s); ok && !rv.FieldByIndex(rf.index).IsZero() {
					entry[rf.path] = val
				}
			}
			out[pattern] = entry
		}
		return out, true
	}
	return nil, false
}

// fileLayer checks the decoded YAML of file against the schema.
func (s *schema) fileLayer(file string, raw map[string]any, p *problems) *layer {
	l := newLayer()
	s.walkFile(l, file, "", raw, p)
	return l
}

// walkFile checks the mapping m found at section prefix ("" for the top).
func (s *schema) walkFile(l *layer, file, prefix string, m any, p *problems) {
	entries, ok := s.fileMap(file, prefix, m, "a mapping of "+prefix+" keys", p)
	if !ok {
		return
	}
	for _, e := range entries {
		path := joinKey(prefix, e.key)
		if strings.Contains(e.key, ".") {
			s.unknownFileKey(file, path, s.fileKeys(), p)
			continue
		}
		if s.isSect[path] {
			if e.value != nil {
				s.walkFile(l, file, path, e.value, p)
			}
			continue
		}
		f, ok := s.byPath[path]
		if !ok {
			s.unknownFileKey(file, path, s.fileKeys(), p)
			continue
		}
		switch f.kind {
		case kindRoutes:
			s.walkRoutes(l, file, e.value, p)
			continue
		case kindRecords:
			s.walkRecords(l, file, f, e.value, p)
			continue
		case kindSchedules:
			if val, ok := decodeSchedules(file, e.value, p); ok {
				l.set([]string{schedulesKey}, val, file)
			}
			continue
		case kindTokens:
			s.walkTokens(l, file, path, e.value, p)
			continue
		case kindWeights:
			if _, isString := e.value.(string); !isString && e.value != nil {
				s.walkWeights(l, file, path, e.value, p)
				continue
			}
		}
		v, ok := parseYAML(f.kind, e.value)
		if !ok {
			p.bad(file, path, e.value, expected(f.kind), f.secret)
			continue
		}
		l.set(strings.Split(path, "."), v, file)
	}
}

// fileMap returns the sorted entries of the YAML mapping at key, reporting
// a value that is not a mapping, keys that are not scalars and keys that
// appear twice once converted to strings.
func (s *schema) fileMap(file, key string, m any, exp string, p *problems) ([]yamlEntry, bool) {
	entries, badKeys, ok := yamlMap(m)
	if !ok {
		p.bad(file, key, m, exp, false)
		return nil, false
	}
	where := key
	if where == "" {
		where = "top level"
	}
	for _, k := range badKeys {
		p.bad(file, where+" key", k, "a string", false)
	}
	out := entries[:0]
	for i, e := range entries {
		if i > 0 && entries[i-1].key == e.key {
			p.bad(file, joinKey(key, e.key), e.value, "a key that appears once", false)
			continue
		}
		out = append(out, e)
	}
	return out, true
}

// walkWeights checks a queue map written as a YAML mapping.
func (s *schema) walkWeights(l *layer, file, path string, m any, p *problems) {
	entries, ok := s.fileMap(file, path, m, expected(kindWeights), p)
	if !ok {
		return
	}
	out := map[string]int{}
	for _, e := range entries {
		w, ok := parseYAML(kindInt, e.value)
		if !ok {
			p.bad(file, path+"."+e.key, e.value, "an integer weight", false)
			continue
		}
		out[e.key] = w.(int)
	}
	l.set(strings.Split(path, "."), out, file)
}

// walkRoutes checks the routes mapping.
func (s *schema) walkRoutes(l *layer, file string, m any, p *problems) {
	if m == nil {
		return
	}
	entries, ok := s.fileMap(file, routesKey, m, expected(kindRoutes), p)
	if !ok {
		return
	}
	for _, e := range entries {
		key := routesKey + "." + e.key
		l.node([]string{routesKey, e.key})
		l.sources[key] = file
		if e.value == nil {
			continue
		}
		fields, ok := s.fileMap(file, key, e.value, "a mapping of queue, max_retry, timeout and unique_ttl", p)
		if !ok {
			continue
		}
		var names []string
		for _, rf := range s.route {
			names = append(names, key+"."+rf.path)
		}
		for _, fe := range fields {
			rf, ok := s.routeBy[fe.key]
			if !ok {
				s.unknownFileKey(file, key+"."+fe.key, names, p)
				continue
			}
			if fe.value == nil {
				continue
			}
			v, ok := parseYAML(rf.kind, fe.value)
			if !ok {
				p.bad(file, key+"."+rf.path, fe.value, expected(rf.kind), false)
				continue
			}
			l.set([]string{routesKey, e.key, rf.path}, v, file)
		}
	}
}

// unknownFileKey reports a key of file that is not in the schema.
func (s *schema) unknownFileKey(file, path string, candidates []string, p *problems) {
	best := closest(path, candidates)
	if best == path {
		// A flat "redis.addr:" written where nesting is required.
		i := strings.LastIndexByte(path, '.')
		p.unknown("%s: unknown key %q (nest it: write %q under %q)", file, path, path[i+1:], path[:i])
		return
	}
	p.unknown("%s: unknown key %q (did you mean %q?)", file, path, best)
}

// envLayer reads the TUSKQ_ variables of environ.
func (s *schema) envLayer(environ []string, p *problems) *layer {
	l := newLayer()
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || name == envConfigFile || name == envAllowReadable {
			continue
		}
		path, ok := s.env[name]
		if !ok {
			if name == envName(routesKey) || strings.HasPrefix(name, envName(routesKey)+"_") {
				p.unknown("%s: routes cannot be set from the environment; set them in the config file or with --set routes.<pattern>.<field>=value", name)
				continue
			}
			p.unknown("unknown environment variable %s (did you mean %s?)", name, closest(name, s.envNames))
			continue
		}
		f := s.byPath[path]
		if f.kind == kindTokens {
			tokensFromString(name, path, value, l, p)
			continue
		}
		if f.kind == kindRecords {
			recordsFromString(name, f, value, l, p)
			continue
		}
		if f.kind == kindSchedules {
			schedulesFromString(name, value, l, p)
			continue
		}
		v, ok := parseString(f.kind, value)
		if !ok {
			p.bad(name, path, value, expectedString(f.kind), f.secret)
			continue
		}
		l.set(strings.Split(path, "."), v, name)
	}
	return l
}

// joinKey joins a section path and a key.
func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
