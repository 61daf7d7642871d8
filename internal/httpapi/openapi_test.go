package httpapi_test

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tuskq/tuskq/internal/httpapi"
)

// spec is the decoded OpenAPI description.
func spec(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists "METHOD /path" of the description, with whether the
// operation needs no token (security: []).
func operations(t *testing.T, doc map[string]any) map[string]bool {
	t.Helper()
	ops := map[string]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			sec, hasSec := op.(map[string]any)["security"].([]any)
			ops[strings.ToUpper(method)+" "+path] = hasSec && len(sec) == 0
		}
	}
	return ops
}

// TestOpenAPIMatchesRoutes keeps openapi.yaml and the server in step, both
// ways: every operation described is served, and every route served is
// described, with the same authentication.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := spec(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi version %q, want 3.1.x", v)
	}
	described := operations(t, doc)
	served := map[string]bool{}
	for _, r := range httpapi.Routes() {
		served[r.String()] = r.Public
	}
	for op, public := range served {
		d, ok := described[op]
		switch {
		case !ok:
			t.Errorf("route %s is served but not described in openapi.yaml", op)
		case d != public:
			t.Errorf("route %s: public %v, but openapi.yaml says security: [] is %v", op, public, d)
		}
	}
	for op := range described {
		if _, ok := served[op]; !ok {
			t.Errorf("openapi.yaml describes %s, which the server does not serve", op)
		}
	}

	// The live server agrees: each described operation reaches a handler
	// (no 404 for the path, no 405 for the method), and every other method
	// on a described path is 405 with the described methods in Allow.
	e := newEnv(t, envOptions{})
	byPath := map[string][]string{}
	for op := range described {
		method, path, _ := strings.Cut(op, " ")
		byPath[path] = append(byPath[path], method)
	}
	fill := strings.NewReplacer("{queue}", "default", "{id}", "no-such-task")
	for path, methods := range byPath {
		url := fill.Replace(path)
		for _, m := range methods {
			probe := url
			if path == httpapi.PathEvents {
				probe += "?queue=" // a 400 at once rather than an endless stream
			}
			r := e.do(t, m, probe, "")
			if r.status == 405 || strings.Contains(r.body, "no such endpoint") {
				t.Errorf("%s %s: %d %s", m, url, r.status, r.body)
			}
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) {
				continue
			}
			r := e.do(t, m, url, "")
			allow := strings.Split(r.header.Get("Allow"), ", ")
			sort.Strings(allow)
			want := slices.Clone(methods)
			if slices.Contains(want, "GET") {
				want = append(want, "HEAD") // ServeMux answers HEAD with the GET handler
			}
			sort.Strings(want)
			if r.status != 405 || !reflect.DeepEqual(allow, want) {
				t.Errorf("%s %s: %d Allow %v, want 405 Allow %v", m, url, r.status, allow, want)
			}
		}
	}
	r := e.do(t, "GET", "/v1/openapi.yaml", "")
	if r.status != 200 || r.body != string(httpapi.OpenAPI()) || r.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("GET /v1/openapi.yaml: %d %q", r.status, r.header.Get("Content-Type"))
	}
}

// TestOpenAPISchemas checks that every $ref resolves and that the schemas
// list exactly the fields of the Go types the server encodes and decodes.
func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	doc := spec(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(doc, ref) == nil {
				t.Errorf("$ref %q does not resolve", ref)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)

	for name, typ := range map[string]reflect.Type{
		"TaskCreated":   reflect.TypeFor[httpapi.TaskCreated](),
		"TaskDetail":    reflect.TypeFor[httpapi.TaskDetail](),
		"BatchResult":   reflect.TypeFor[httpapi.BatchResult](),
		"BatchResponse": reflect.TypeFor[httpapi.BatchResponse](),
		"DeleteResult":  reflect.TypeFor[httpapi.DeleteResult](),
		"Problem":       reflect.TypeFor[httpapi.Problem](),
		"FieldError":    reflect.TypeFor[httpapi.FieldError](),
	} {
		var fields []string
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields = append(fields, tag)
		}
		if got := properties(t, doc, name); !reflect.DeepEqual(got, sorted(fields)) {
			t.Errorf("schema %s lists %v; %s has %v", name, got, typ, sorted(fields))
		}
	}
	if got := properties(t, doc, "TaskRequest"); !reflect.DeepEqual(got, sorted(httpapi.TaskFields)) {
		t.Errorf("schema TaskRequest lists %v; the decoder takes %v", got, sorted(httpapi.TaskFields))
	}
}

// resolve follows a local $ref such as "#/components/schemas/Problem".
func resolve(doc map[string]any, ref string) any {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// properties lists the property names of a component schema, sorted.
func properties(t *testing.T, doc map[string]any, name string) []string {
	t.Helper()
	s, _ := resolve(doc, "#/components/schemas/"+name).(map[string]any)
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		t.Fatalf("schema %s has no properties", name)
	}
	var out []string
	for p := range props {
		out = append(out, p)
	}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("schema %s requires %v, which it does not list", name, r)
			}
		}
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
