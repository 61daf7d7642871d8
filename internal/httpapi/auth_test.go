package httpapi_test

import (
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
)

// withTokens configures a token for everything and one limited to the
// "low" queue and email:* task types.
func withTokens(c *config.Config) {
	c.API.Tokens = []config.APIToken{
		{Name: "ops", Token: tokenAll},
		{Name: "mailer", Token: tokenLimited, Queues: []string{"low"}, TaskTypes: []string{"email:*"}},
	}
}

// TestAuth checks missing, wrong and limited tokens on every route.
func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: withTokens})
	const task = `{"type":"email:send","queue":"low"}`
	unauthorized := func(detail string) string {
		return problemJSON("unauthorized", "Authentication required", 401, detail)
	}
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		challenge, want          string
	}{
		{"no token", "POST", "/v1/tasks", task, nil, 401,
			`Bearer realm="tuskq"`,
			unauthorized("this API requires a bearer token; send the header Authorization: Bearer TOKEN")},
		{"wrong token", "POST", "/v1/tasks", task, []string{"Authorization", "Bearer " + strings.Repeat("x", 20)}, 401,
			`Bearer realm="tuskq", error="invalid_token", error_description="the token is not valid"`,
			unauthorized("the bearer token is not valid; check the token configured in api.tokens")},
		{"prefix of a token", "GET", "/v1/queues/low/tasks/x", "", []string{"Authorization", "Bearer " + tokenAll[:10]}, 401,
			`Bearer realm="tuskq", error="invalid_token", error_description="the token is not valid"`,
			unauthorized("the bearer token is not valid; check the token configured in api.tokens")},
		{"basic auth", "DELETE", "/v1/queues/low/tasks/x", "", []string{"Authorization", "Basic b3BzOnB3"}, 401,
			`Bearer realm="tuskq", error="invalid_request", error_description="expected Authorization: Bearer TOKEN"`,
			unauthorized("the Authorization header is not a bearer token; send Authorization: Bearer TOKEN")},
		{"batch without token", "POST", "/v1/tasks/batch", `{"tasks":[]}`, nil, 401,
			`Bearer realm="tuskq"`,
			unauthorized("this API requires a bearer token; send the header Authorization: Bearer TOKEN")},
		{"limited token, other queue", "POST", "/v1/tasks", `{"type":"email:send","queue":"critical"}`, []string{"Authorization", "Bearer " + tokenLimited}, 403, "",
			problemJSON("forbidden", "The token may not do this", 403, `token "mailer" may not use queue "critical"; it is limited to queues low`,
				fe("queue", `queue "critical" is outside the token's scope (queues low)`))},
		{"limited token, default queue", "POST", "/v1/tasks", `{"type":"email:send"}`, []string{"Authorization", "Bearer " + tokenLimited}, 403, "",
			problemJSON("forbidden", "The token may not do this", 403, `token "mailer" may not use queue "default"; it is limited to queues low`,
				fe("queue", `queue "default" is outside the token's scope (queues low)`))},
		{"limited token, other type", "POST", "/v1/tasks", `{"type":"sms:send","queue":"low"}`, []string{"Authorization", "Bearer " + tokenLimited}, 403, "",
			problemJSON("forbidden", "The token may not do this", 403, `token "mailer" may not use task type "sms:send"; it is limited to task types email:*`,
				fe("type", `task type "sms:send" is outside the token's scope (task types email:*)`))},
		{"limited token, read other queue", "GET", "/v1/queues/default/tasks/x", "", []string{"Authorization", "Bearer " + tokenLimited}, 404, "",
			problemJSON("not-found", "Not found", 404, `no task "x" in queue "default": it never existed, was deleted, or completed without a retention`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, tt.method, tt.path, tt.body, tt.hdr...)
			if r.status != tt.status || r.body != tt.want || r.header.Get("WWW-Authenticate") != tt.challenge {
				t.Errorf("%d %q %s\nwant %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body, tt.status, tt.challenge, tt.want)
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		// The limited token works inside its scope, also in a batch where
		// tasks outside it are refused one by one.
		tc := created(t, e.do(t, "POST", "/v1/tasks", task, "Authorization", "Bearer "+tokenLimited))
		if r := e.do(t, "GET", "/v1/queues/low/tasks/"+tc.ID, "", "Authorization", "bearer "+tokenLimited); r.status != 200 {
			t.Errorf("GET with the limited token: %d %s", r.status, r.body)
		}
		r := e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"email:x","queue":"low"},{"type":"sms:x","queue":"low"}]}`, "Authorization", "Bearer "+tokenLimited)
		if r.status != 200 || !strings.Contains(r.body, `"enqueued":1,"failed":1`) ||
			!strings.Contains(r.body, `{"index":1,"status":403,"error":{"type":"https://github.com/tuskq/tuskq/blob/main/docs/api.md#forbidden"`) ||
			!strings.Contains(r.body, `"errors":[{"field":"tasks[1].type","detail":"task type \"sms:x\" is outside the token's scope (task types email:*)"}]`) {
			t.Errorf("batch: %d %s", r.status, r.body)
		}
		// The full token reads a task of a type outside the limited
		// token's scope; the limited one gets the answer of a missing task.
		tc = created(t, e.do(t, "POST", "/v1/tasks", `{"type":"sms:send","queue":"low"}`, "Authorization", "Bearer "+tokenAll))
		r = e.do(t, "DELETE", "/v1/queues/low/tasks/"+tc.ID, "", "Authorization", "Bearer "+tokenLimited)
		if want := problemJSON("not-found", "Not found", 404, `no task "`+tc.ID+`" in queue "low": it never existed, was deleted, or completed without a retention`); r.status != 404 || r.body != want {
			t.Errorf("DELETE outside the scope: %d %s\nwant 404 %s", r.status, r.body, want)
		}
		if r := e.do(t, "DELETE", "/v1/queues/low/tasks/"+tc.ID, "", "Authorization", "Bearer "+tokenAll); r.status != 200 {
			t.Errorf("DELETE with the full token: %d %s", r.status, r.body)
		}
	})
	t.Run("public", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/healthz", "/readyz", "/v1/openapi.yaml"} {
			if r := e.do(t, "GET", path, ""); r.status != 200 {
				t.Errorf("%s without token: %d %s", path, r.status, r.body)
			}
		}
		// With tokens any Host is served (the API is meant to be reached
		// by name).
		if r := e.do(t, "GET", "/healthz", "", "Host", "api.example.com"); r.status != 200 {
			t.Errorf("named host: %d", r.status)
		}
	})
	t.Cleanup(func() {
		// The access log names the token, never shows it.
		logs := e.logs.String()
		if strings.Contains(logs, tokenAll) || strings.Contains(logs, tokenLimited) || strings.Contains(logs, tokenAll[:10]) {
			t.Errorf("a token was logged:\n%s", logs)
		}
		names := map[any]int{}
		for _, l := range e.logs.Records(t, "http request") {
			names[l["token"]]++
		}
		if names["mailer"] < 5 || names["ops"] < 2 || names[nil] < 8 {
			t.Errorf("token names in the access log: %v\n%s", names, logs)
		}
	})
}
