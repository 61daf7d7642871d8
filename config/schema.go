package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/suggest"
)

// kind is the shape of a configuration value, which decides how it is
// parsed from YAML, from the environment and from flags.
type kind int

const (
	kindString    kind = iota // string
	kindInt                   // int, or *int for optional route fields
	kindBool                  // bool
	kindDuration              // time.Duration
	kindStrings               // []string
	kindWeights               // map[string]int
	kindRoutes                // map[string]RouteConfig
	kindTokens                // []APIToken
	kindRecords               // []struct of string fields: monitor.auth.users, monitor.auth.tokens
	kindFloat                 // float64
	kindSchedules             // map[string]ScheduleConfig
)

// envPrefix starts every environment variable read by Load.
const envPrefix = "TUSKQ_"

// envConfigFile names the config file when LoadOptions.File is empty.
const envConfigFile = "TUSKQ_CONFIG"

// routesKey is the key of Config.Routes.
const routesKey = "routes"

// field describes one settable key.
type field struct {
	path   string // "redis.addr"; for route fields only the name ("queue")
	kind   kind
	secret bool  // masked by Write
	index  []int // reflect index from the struct the field belongs to
	// elem lists the fields of one record of a kindRecords key, in struct
	// order; their paths are the bare field names ("password_hash").
	elem []field
}

// sensitive reports whether a value of f may hold a secret: the field is
// tagged secret, or one of its record fields is.
func (f field) sensitive() bool {
	if f.secret {
		return true
	}
	for _, e := range f.elem {
		if e.secret {
			return true
		}
	}
	return false
}

// schema is the set of keys derived from the koanf tags of Config and
// RouteConfig. It is rebuilt on every use: cheap, and no package state.
type schema struct {
	leaves   []field          // in struct order, including routes
	byPath   map[string]field // leaves by path
	sections []string         // "redis", "redis.tls", ... in struct order
	isSect   map[string]bool
	route    []field          // RouteConfig fields in struct order
	routeBy  map[string]field // by name
	env      map[string]string
	envNames []string // in leaf order
}

func newSchema() *schema {
	s := &schema{
		byPath:  map[string]field{},
		isSect:  map[string]bool{},
		routeBy: map[string]field{},
		env:     map[string]string{},
	}
	walkStruct(reflect.TypeFor[Config](), "", nil, func(path string, f field, section bool) {
		if section {
			s.sections = append(s.sections, path)
			s.isSect[path] = true
			return
		}
		s.leaves = append(s.leaves, f)
		s.byPath[path] = f
		if f.kind == kindRoutes {
			return
		}
		name := envName(path)
		s.env[name] = path
		s.envNames = append(s.envNames, name)
	})
	walkStruct(reflect.TypeFor[RouteConfig](), "", nil, func(path string, f field, section bool) {
		s.route = append(s.route, f)
		s.routeBy[path] = f
	})
	return s
}

// envName is the environment variable of a key path.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// walkStruct calls fn for every koanf-tagged field of t: sections (nested
// structs) before their fields.
func walkStruct(t reflect.Type, prefix string, index []int, fn func(path string, f field, section bool)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Duration]() {
			fn(path, field{path: path}, true)
			walkStruct(sf.Type, path, idx, fn)
			continue
		}
		k := kindOf(path, sf.Type)
		fn(path, field{
			path: path,
			kind: k,
			// A token list holds secrets, so its values are masked too.
			secret: sf.Tag.Get("secret") == "true" || k == kindTokens,
			index:  idx,
			elem:   recordFields(k, sf.Type),
		}, false)
	}
}

// kindOf maps a Go type of the config structs to its kind. An unsupported
// type is a programming error in this package, caught by its tests.
func kindOf(path string, t reflect.Type) kind {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return kindDuration
	case t.Kind() == reflect.String:
		return kindString
	case t.Kind() == reflect.Int, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Int:
		return kindInt
	case t.Kind() == reflect.Bool:
		return kindBool
	case t.Kind() == reflect.Float64:
		return kindFloat
	case t == reflect.TypeFor[[]string]():
		return kindStrings
	case t == reflect.TypeFor[map[string]int]():
		return kindWeights
	case t == reflect.TypeFor[map[string]RouteConfig]():
		return kindRoutes
	case t == reflect.TypeFor[map[string]ScheduleConfig]():
		return kindSchedules
	case t == reflect.TypeFor[[]APIToken]():
		return kindTokens
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return kindRecords
	}
	panic(fmt.Sprintf("config: key %s has unsupported type %s", path, t))
}

// splitKey resolves a flat key path as used by --set and BindFlag into its
// parts: ["redis", "addr"], or ["routes", pattern, field] where the pattern
// is everything between "routes." and the last ".". It returns the field of
// the key, or ok false.
func (s *schema) splitKey(key string) (parts []string, f field, ok bool) {
	if rest, isRoute := strings.CutPrefix(key, routesKey+"."); isRoute {
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 {
			return nil, field{}, false
		}
		f, ok := s.routeBy[rest[i+1:]]
		if !ok {
			return nil, field{}, false
		}
		return []string{routesKey, rest[:i], rest[i+1:]}, f, true
	}
	f, ok = s.byPath[key]
	if !ok || f.kind == kindRoutes {
		return nil, field{}, false
	}
	return strings.Split(key, "."), f, true
}

// settableKeys lists the keys accepted by --set, for suggestions. A route
// key is suggested for the pattern of key when key starts with "routes.".
func (s *schema) settableKeys(key string) []string {
	var out []string
	for _, f := range s.leaves {
		if f.kind == kindRoutes {
			continue
		}
		out = append(out, f.path)
	}
	if rest, ok := strings.CutPrefix(key, routesKey+"."); ok {
		pattern := rest
		if i := strings.LastIndexByte(rest, '.'); i > 0 {
			pattern = rest[:i]
		}
		for _, f := range s.route {
			out = append(out, routesKey+"."+pattern+"."+f.path)
		}
	}
	return out
}

// fileKeys lists every key path a file may contain outside routes, for
// suggestions: all sections and leaves.
func (s *schema) fileKeys() []string {
	out := append([]string(nil), s.sections...)
	for _, f := range s.leaves {
		out = append(out, f.path)
	}
	return out
}

// closest returns the candidate nearest to word by edit distance; the first
// one in order on ties.
func closest(word string, candidates []string) string {
	best, _ := suggest.Closest(word, candidates)
	return best
}
