package config

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// maskValue replaces a secret that is set when printing.
const maskValue = "****"

// Write writes c as a YAML config file, keys in documentation order.
// Secrets (redis.password, redis.sentinel_password and every field tagged
// secret:"true") are written as "****" when set. Durations are written as
// strings such as "8s", so the output loads back with Load.
func Write(w io.Writer, c Config) error {
	s := newSchema()
	root := s.structNode(reflect.ValueOf(mask(c, s)), "")
	root.HeadComment = "tuskq effective configuration; secrets that are set are shown as \"****\""
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return fmt.Errorf("config: write: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: write: %w", err)
	}
	return nil
}

// mask returns c with every secret that is set replaced by maskValue.
func mask(c Config, s *schema) Config {
	v := reflect.ValueOf(&c).Elem()
	for _, f := range s.leaves {
		fv := v.FieldByIndex(f.index)
		switch {
		case f.kind == kindTokens:
			fv.Set(reflect.ValueOf(maskTokens(fv.Interface().([]APIToken))))
		case f.kind == kindRecords:
			fv.Set(maskRecords(f, fv))
		case f.secret && fv.String() != "":
			fv.SetString(maskValue)
		}
	}
	return c
}

// structNode renders the koanf-tagged fields of the struct v found at key
// path prefix.
func (s *schema) structNode(v reflect.Value, prefix string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	t := v.Type()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		path := joinKey(prefix, tag)
		var val *yaml.Node
		if s.isSect[path] {
			val = s.structNode(v.Field(i), path)
		} else {
			val = s.valueNode(s.byPath[path], v.Field(i))
		}
		n.Content = append(n.Content, scalar(tag), val)
	}
	return n
}

// valueNode renders one value.
func (s *schema) valueNode(f field, v reflect.Value) *yaml.Node {
	switch f.kind {
	case kindDuration:
		return scalar(time.Duration(v.Int()).String())
	case kindStrings:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, item := range v.Interface().([]string) {
			seq.Content = append(seq.Content, scalar(item))
		}
		if len(seq.Content) == 0 {
			seq.Style = yaml.FlowStyle
		}
		return seq
	case kindWeights:
		m := v.Interface().(map[string]int)
		names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
			return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
		})
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, name := range names {
			n.Content = append(n.Content, scalar(name), encoded(m[name]))
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	case kindTokens:
		return tokensNode(v.Interface().([]APIToken))
	case kindRecords:
		return recordsNode(f, v)
	case kindSchedules:
		n := &yaml.Node{}
		if err := n.Encode(schedulesTree(v.Interface().(map[string]ScheduleConfig))); err != nil || v.Len() == 0 {
			return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		}
		return n
	case kindRoutes:
		routes := v.Interface().(map[string]RouteConfig)
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, pattern := range slices.Sorted(maps.Keys(routes)) {
			rv := reflect.ValueOf(routes[pattern])
			entry := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			for _, rf := range s.route {
				fv := rv.FieldByIndex(rf.index)
				if fv.IsZero() {
					continue
				}
				if fv.Kind() == reflect.Pointer {
					fv = fv.Elem()
				}
				entry.Content = append(entry.Content, scalar(rf.path), s.valueNode(rf, fv))
			}
			n.Content = append(n.Content, scalar(pattern), entry)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	return encoded(v.Interface())
}

// scalar is a string node, quoted when YAML would read it as another type.
func scalar(s string) *yaml.Node {
	if s == "<<" {
		// yaml.v3 writes this string as a merge key; quoted, it reads back
		// as a plain string.
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.SingleQuotedStyle}
	}
	return encoded(s)
}

// encoded is the node yaml.v3 produces for a plain Go value.
func encoded(v any) *yaml.Node {
	var n yaml.Node
	// Encoding strings, ints and bools cannot fail.
	_ = n.Encode(v)
	return &n
}
