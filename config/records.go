package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A records key (monitor.auth.users, monitor.auth.tokens) is a list of
// mappings whose fields are all strings. In a file it is a YAML list; in
// the environment and in --set it is the same list in YAML flow or JSON
// form, as for api.tokens:
//
//	TUSKQ_MONITOR_AUTH_TOKENS='[{name: prometheus, role: viewer, token: "…"}]'
//
// Its canonical tree value is a []map[string]any holding every field as a
// string ("" when not given). Fields tagged secret:"true" are masked by
// Write, and a problem with a records value read from the environment or a
// flag masks the whole value.

// recordFields returns the fields of the element type of a records key of
// type t, in struct order; nil for any other kind. Record fields must be
// strings: anything else is a programming error caught by this package's
// tests.
func recordFields(k kind, t reflect.Type) []field {
	if k != kindRecords {
		return nil
	}
	var out []field
	walkStruct(t.Elem(), "", nil, func(path string, f field, section bool) {
		if section || f.kind != kindString {
			panic(fmt.Sprintf("config: record field %s of %s is not a string", path, t))
		}
		out = append(out, f)
	})
	return out
}

// recordNames is "name, role and token" for f.
func recordNames(f field) string {
	names := make([]string, len(f.elem))
	for i, ef := range f.elem {
		names[i] = ef.path
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// recordsExpected describes the accepted form of the records key f.
func recordsExpected(f field) string {
	return "a list of mappings of " + recordNames(f) + ", such as [{" + f.elem[0].path + ": ops, …}]"
}

// recordsTree converts the slice v of the records key f to its canonical
// tree value.
func recordsTree(f field, v reflect.Value) []map[string]any {
	out := make([]map[string]any, 0, v.Len())
	for i := range v.Len() {
		rec := map[string]any{}
		for _, ef := range f.elem {
			rec[ef.path] = v.Index(i).FieldByIndex(ef.index).String()
		}
		out = append(out, rec)
	}
	return out
}

// decodeRecords checks the YAML value v of the records key f read from
// source and returns its canonical value, or ok false after recording the
// problems in p. Values of secret fields are masked in the problems; so is
// the whole value when maskAll is set (it came as one string).
func (s *schema) decodeRecords(source string, f field, v any, maskAll bool, p *problems) ([]map[string]any, bool) {
	if v == nil {
		return []map[string]any{}, true
	}
	list, isList := v.([]any)
	if !isList {
		p.bad(source, f.path, v, recordsExpected(f), maskAll || f.sensitive())
		return nil, false
	}
	before := len(p.errs)
	out := make([]map[string]any, 0, len(list))
	for i, item := range list {
		key := fmt.Sprintf("%s[%d]", f.path, i)
		entries, badKeys, ok := yamlMap(item)
		if !ok {
			p.bad(source, key, item, "a mapping of "+recordNames(f), maskAll || f.sensitive())
			continue
		}
		for _, k := range badKeys {
			p.bad(source, key+" key", k, "a string", false)
		}
		names := make([]string, len(f.elem))
		rec := map[string]any{}
		for n, ef := range f.elem {
			names[n] = key + "." + ef.path
			rec[ef.path] = ""
		}
		for j, e := range entries {
			if j > 0 && entries[j-1].key == e.key {
				p.bad(source, key+"."+e.key, e.value, "a key that appears once", true)
				continue
			}
			ef, known := recordField(f, e.key)
			if !known {
				p.unknown("%s: unknown key %q (did you mean %q?)", source, key+"."+e.key, closest(key+"."+e.key, names))
				continue
			}
			if n, isInt := e.value.(int); isInt && ef.kind == kindString {
				// A number written for a string field (limits[0].concurrency: 2).
				e.value = strconv.Itoa(n)
			}
			val, ok := parseYAML(ef.kind, e.value)
			if !ok {
				p.bad(source, key+"."+ef.path, e.value, expected(ef.kind), maskAll || ef.secret)
				continue
			}
			rec[ef.path] = val
		}
		out = append(out, rec)
	}
	return out, len(p.errs) == before
}

// recordField finds the record field of f named name.
func recordField(f field, name string) (field, bool) {
	for _, ef := range f.elem {
		if ef.path == name {
			return ef, true
		}
	}
	return field{}, false
}

// walkRecords checks the value of the records key f in a file.
func (s *schema) walkRecords(l *layer, file string, f field, v any, p *problems) {
	if str, isString := v.(string); isString {
		s.recordsString(l, file, f, str, p)
		return
	}
	if recs, ok := s.decodeRecords(file, f, v, false, p); ok {
		setRecords(l, f, recs, file)
	}
}

// recordsFromString reads the records key f from the string form of an
// environment variable or flag named source: a YAML flow or JSON list;
// empty means none.
func recordsFromString(source string, f field, raw string, l *layer, p *problems) {
	newSchema().recordsString(l, source, f, raw, p)
}

func (s *schema) recordsString(l *layer, source string, f field, raw string, p *problems) {
	var v any
	if strings.TrimSpace(raw) != "" {
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			p.bad(source, f.path, raw, recordsExpected(f), true)
			return
		}
	}
	if recs, ok := s.decodeRecords(source, f, v, true, p); ok {
		setRecords(l, f, recs, source)
	}
}

// setRecords stores recs in l, recording the source of each record too so
// that validation problems of "monitor.auth.users[1].role" name it.
func setRecords(l *layer, f field, recs []map[string]any, source string) {
	l.set(strings.Split(f.path, "."), recs, source)
	for i := range recs {
		l.sources[fmt.Sprintf("%s[%d]", f.path, i)] = source
	}
}

// maskRecords returns a copy of the slice v of the records key f with
// every secret field that is set replaced by maskValue.
func maskRecords(f field, v reflect.Value) reflect.Value {
	if v.Len() == 0 {
		return v
	}
	cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
	reflect.Copy(cp, v)
	for i := range cp.Len() {
		for _, ef := range f.elem {
			if fv := cp.Index(i).FieldByIndex(ef.index); ef.secret && fv.String() != "" {
				fv.SetString(maskValue)
			}
		}
	}
	return cp
}

// recordsNode renders the slice v of the records key f: a list of flow
// mappings, every field written.
func recordsNode(f field, v reflect.Value) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for i := range v.Len() {
		m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		for _, ef := range f.elem {
			m.Content = append(m.Content, scalar(ef.path), scalar(v.Index(i).FieldByIndex(ef.index).String()))
		}
		seq.Content = append(seq.Content, m)
	}
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle
	}
	return seq
}
