package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The api.tokens key is a list of mappings. In a file it is written as a
// YAML list; in the environment (TUSKQ_API_TOKENS) and in --set it is the
// same list in YAML flow or JSON form:
//
//	[{"name":"ci","token":"…","queues":["default"],"task_types":["email:*"]}]
//
// Its canonical tree value is a []any of map[string]any holding only the
// fields that are set: name and token as strings, queues and task_types as
// []string.

// tokensExpected describes the accepted form of api.tokens.
const tokensExpected = `a list of tokens, each a mapping of name, token, queues and task_types, such as [{"name": "ci", "token": "…", "queues": ["default"]}]`

// tokenProblem is one problem found in an api.tokens value.
type tokenProblem struct {
	key      string // "api.tokens[0].queues"
	value    any
	expected string
	secret   bool
	unknown  string // set for an unknown key: the closest valid key
}

// tokenFields lists the koanf keys of APIToken with their kinds, in struct
// order.
func tokenFields() []field {
	var out []field
	walkStruct(reflect.TypeFor[APIToken](), "", nil, func(path string, f field, section bool) {
		out = append(out, f)
	})
	return out
}

// decodeTokens checks the YAML value v of the key path and returns its
// canonical value.
func decodeTokens(path string, v any) ([]any, []tokenProblem) {
	if v == nil {
		return []any{}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, []tokenProblem{{key: path, value: v, expected: tokensExpected, secret: true}}
	}
	fields := tokenFields()
	var probs []tokenProblem
	out := make([]any, 0, len(list))
	for i, item := range list {
		key := fmt.Sprintf("%s[%d]", path, i)
		entries, badKeys, ok := yamlMap(item)
		if !ok {
			probs = append(probs, tokenProblem{key: key, value: item, expected: "a mapping of name, token, queues and task_types", secret: true})
			continue
		}
		for _, k := range badKeys {
			probs = append(probs, tokenProblem{key: key + " key", value: k, expected: "a string"})
		}
		tok := map[string]any{}
		for j, e := range entries {
			if j > 0 && entries[j-1].key == e.key {
				probs = append(probs, tokenProblem{key: key + "." + e.key, value: e.value, expected: "a key that appears once", secret: true})
				continue
			}
			f, found := findField(fields, e.key)
			if !found {
				names := make([]string, len(fields))
				for n, tf := range fields {
					names[n] = key + "." + tf.path
				}
				probs = append(probs, tokenProblem{key: key + "." + e.key, unknown: closest(key+"."+e.key, names)})
				continue
			}
			if e.value == nil {
				continue
			}
			val, ok := parseYAML(f.kind, e.value)
			if !ok {
				probs = append(probs, tokenProblem{key: key + "." + f.path, value: e.value, expected: expected(f.kind), secret: f.secret})
				continue
			}
			tok[f.path] = val
		}
		out = append(out, tok)
	}
	return out, probs
}

// findField finds the field named name.
func findField(fields []field, name string) (field, bool) {
	for _, f := range fields {
		if f.path == name {
			return f, true
		}
	}
	return field{}, false
}

// report records the problems of an api.tokens value read from source.
func reportTokens(p *problems, source string, probs []tokenProblem) {
	for _, pr := range probs {
		if pr.unknown != "" {
			p.unknown("%s: unknown key %q (did you mean %q?)", source, pr.key, pr.unknown)
			continue
		}
		p.bad(source, pr.key, pr.value, pr.expected, pr.secret)
	}
}

// walkTokens checks the api.tokens value of a file.
func (s *schema) walkTokens(l *layer, file, path string, v any, p *problems) {
	val, probs := decodeTokens(path, v)
	if len(probs) > 0 {
		reportTokens(p, file, probs)
		return
	}
	l.set(strings.Split(path, "."), val, file)
}

// tokensFromString reads api.tokens from the string form of an environment
// variable or --set: a YAML flow or JSON list.
func tokensFromString(source, path, raw string, l *layer, p *problems) {
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		p.bad(source, path, raw, tokensExpected, true)
		return
	}
	if s, isString := v.(string); isString && strings.TrimSpace(s) == "" {
		v = nil
	}
	val, probs := decodeTokens(path, v)
	if len(probs) > 0 {
		reportTokens(p, source, probs)
		return
	}
	l.set(strings.Split(path, "."), val, source)
}

// tokensTree converts tokens to their canonical tree value.
func tokensTree(tokens []APIToken) []any {
	out := make([]any, 0, len(tokens))
	for _, t := range tokens {
		m := map[string]any{"name": t.Name, "token": t.Token}
		if len(t.Queues) > 0 {
			m["queues"] = append([]string{}, t.Queues...)
		}
		if len(t.TaskTypes) > 0 {
			m["task_types"] = append([]string{}, t.TaskTypes...)
		}
		if len(t.Scopes) > 0 {
			m["scopes"] = append([]string{}, t.Scopes...)
		}
		out = append(out, m)
	}
	return out
}

// maskTokens returns a copy of tokens with every token that is set
// replaced by maskValue.
func maskTokens(tokens []APIToken) []APIToken {
	if tokens == nil {
		return nil
	}
	out := make([]APIToken, len(tokens))
	for i, t := range tokens {
		if t.Token != "" {
			t.Token = maskValue
		}
		out[i] = t
	}
	return out
}

// tokensNode renders api.tokens: a list of flow mappings, lists left out
// when empty.
func tokensNode(tokens []APIToken) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, t := range tokens {
		m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		m.Content = append(m.Content, scalar("name"), scalar(t.Name), scalar("token"), scalar(t.Token))
		for _, list := range []struct {
			key   string
			items []string
		}{{"queues", t.Queues}, {"task_types", t.TaskTypes}, {"scopes", t.Scopes}} {
			if len(list.items) == 0 {
				continue
			}
			items := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, it := range list.items {
				items.Content = append(items.Content, scalar(it))
			}
			m.Content = append(m.Content, scalar(list.key), items)
		}
		seq.Content = append(seq.Content, m)
	}
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle
	}
	return seq
}

// normalizeTokens turns empty lists into nil.
func normalizeTokens(tokens []APIToken) []APIToken {
	if len(tokens) == 0 {
		return nil
	}
	for i := range tokens {
		if len(tokens[i].Queues) == 0 {
			tokens[i].Queues = nil
		}
		if len(tokens[i].TaskTypes) == 0 {
			tokens[i].TaskTypes = nil
		}
		if len(tokens[i].Scopes) == 0 {
			tokens[i].Scopes = nil
		}
	}
	return tokens
}
