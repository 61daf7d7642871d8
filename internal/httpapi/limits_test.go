package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
)

const tokenAdmin = "adm-0123456789abcdef"

// TestLimitsEndpoints: only a token with the admin scope may list, set and
// clear limits; a set limit is listed as an override of the configured
// one of its name, bad input names the field, and clearing brings the
// configured limit back (404 when there is nothing to clear).
func TestLimitsEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		withTokens(c)
		c.API.Tokens = append(c.API.Tokens, config.APIToken{Name: "root", Token: tokenAdmin, Scopes: []string{config.ScopeAdmin}})
		c.Limits = []config.LimitConfig{{Name: "reports", Type: "report:*", Concurrency: "2"}}
	}})
	admin := []string{"Authorization", "Bearer " + tokenAdmin}
	ops := []string{"Authorization", "Bearer " + tokenAll}

	// A token without the admin scope, even one allowed every queue and
	// type, is refused on every operation and changes nothing.
	for _, op := range [][2]string{{"GET", "/v1/limits"}, {"PUT", "/v1/limits/reports"}, {"DELETE", "/v1/limits/reports"}} {
		r := e.do(t, op[0], op[1], `{"type":"report:*","concurrency":9}`, ops...)
		if r.status != 403 || !strings.Contains(r.body, `needs the scope \"admin\"`) {
			t.Errorf("%s %s with a token without the admin scope: %d %s; want 403 naming the scope", op[0], op[1], r.status, r.body)
		}
	}

	list := func() []map[string]any {
		t.Helper()
		r := e.do(t, "GET", "/v1/limits", "", admin...)
		if r.status != 200 {
			t.Fatalf("GET /v1/limits: %d %s", r.status, r.body)
		}
		var out struct {
			Limits []map[string]any `json:"limits"`
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatal(err)
		}
		return out.Limits
	}
	if l := list(); len(l) != 1 || l[0]["source"] != "config" || l[0]["limit"].(map[string]any)["concurrency"] != "2" {
		t.Fatalf("limits %v; want the configured one", l)
	}

	r := e.do(t, "PUT", "/v1/limits/reports", `{"type":"report:*","concurrency":9,"rate":"5/s"}`, admin...)
	if r.status != 200 || !strings.Contains(r.body, `"source":"override"`) || !strings.Contains(r.body, `"concurrency":"9"`) {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if l := list(); len(l) != 1 || l[0]["source"] != "override" || l[0]["limit"].(map[string]any)["rate"] != "5/s" {
		t.Fatalf("limits after PUT %v; want the override", l)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"type":"report:*","rate":"fast"}`, "rate"},
		{`{"type":"report:*"}`, "body"},
		{`{"type":"report:*","concurrency":0}`, "concurrency"},
		{`{"type":"report:*","concurrency":1,"colour":"red"}`, "body"},
		{`{"name":"other","type":"report:*","concurrency":1}`, "name"},
	} {
		r := e.do(t, "PUT", "/v1/limits/reports", tc.body, admin...)
		if r.status != 400 || !strings.Contains(r.body, `"field":"`+tc.field+`"`) {
			t.Errorf("PUT %s: %d %s; want 400 naming field %s", tc.body, r.status, r.body, tc.field)
		}
	}

	if r := e.do(t, "DELETE", "/v1/limits/reports", "", admin...); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if l := list(); len(l) != 1 || l[0]["source"] != "config" {
		t.Fatalf("limits after DELETE %v; want the configured one back", l)
	}
	if r := e.do(t, "DELETE", "/v1/limits/reports", "", admin...); r.status != 404 {
		t.Fatalf("second DELETE: %d %s; want 404", r.status, r.body)
	}
}
