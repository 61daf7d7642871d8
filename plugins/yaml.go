package plugins

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parser collects the problems of one manifest.
type parser struct {
	file     string
	problems []Problem
}

func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &ManifestError{File: p.file, Problems: p.problems}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's kind and value for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("%q", v)
	}
	return "an unsupported YAML node"
}

// mapping returns the fields of a mapping node by key, reporting unknown
// and repeated keys. prefix is the dotted path of n ("" for the root).
func (p *parser) mapping(n *yaml.Node, prefix string, known []string) map[string]*yaml.Node {
	where := prefix
	if where == "" {
		where = "the manifest"
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, prefix, "%s must be a mapping, got %s", where, describe(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		field := join(prefix, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k, prefix, "a key in %s is %s; keys are names", where, describe(k))
		case !slices.Contains(known, k.Value):
			p.add(k, field, "unknown field; the fields of %s are %s", where, strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.add(k, field, "set twice; set it once")
		default:
			out[k.Value] = v
		}
	}
	return out
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (p *parser) requiredString(fields map[string]*yaml.Node, root *yaml.Node, name, want string) string {
	n := fields[name]
	if n == nil {
		p.add(root, name, "missing: want %s", want)
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		p.add(n, name, "want %s, got %s", want, describe(n))
		return ""
	}
	return n.Value
}

// optionalString reads a string field; field is the dotted path, whose
// last element is the key.
func (p *parser) optionalString(fields map[string]*yaml.Node, field string) string {
	key := field[strings.LastIndexByte(field, '.')+1:]
	n := fields[key]
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.add(n, field, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) stringList(fields map[string]*yaml.Node, name string) []string {
	n := fields[name]
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, name, "want a list of strings, got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			p.add(item, name, "want a list of strings, got an item that is %s", describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// maxJSONNodes bounds the values converted by jsonValue, so aliases cannot
// expand a small file into a huge value.
const maxJSONNodes = 100_000

var errTooLarge = errors.New("the value is too large once its aliases are expanded")

// jsonValue converts a YAML node into a JSON-compatible Go value
// (map[string]any, []any, string, float64 or int64, bool, nil).
func jsonValue(n *yaml.Node) (any, error) {
	budget := maxJSONNodes
	return convert(n, &budget, 0)
}

func convert(n *yaml.Node, budget *int, depth int) (any, error) {
	n = resolve(n)
	*budget--
	if *budget < 0 {
		return nil, errTooLarge
	}
	if depth > 100 {
		return nil, errors.New("the value is nested more than 100 levels deep")
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key is %s; keys must be strings", k.Line, describe(k))
			}
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: merge keys (<<) are not supported; write the fields out", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q is set twice", k.Line, k.Value)
			}
			v, err := convert(n.Content[i+1], budget, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := convert(item, budget, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			switch x := v.(type) {
			case int:
				return int64(x), nil
			case uint64:
				return float64(x), nil
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
				}
			}
			return v, nil
		}
		return n.Value, nil // strings, timestamps, binary: their text
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
