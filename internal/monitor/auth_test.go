package monitor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// Credentials of authConfig.
const (
	adminPassword  = "correct horse battery staple"
	viewerPassword = "viewer-pass-1"
	adminToken     = "admin-token-0123456789abcdef"
	viewerToken    = "viewer-token-0123456789abcdef"
)

// authConfig has an admin and a viewer user and token each.
func authConfig(t testing.TB, burst int, refill time.Duration) config.MonitorAuthConfig {
	t.Helper()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	return config.MonitorAuthConfig{
		Users: []config.MonitorUser{
			{Name: "alice", Role: config.RoleAdmin, PasswordHash: hash(adminPassword)},
			{Name: "bob", Role: config.RoleViewer, PasswordHash: hash(viewerPassword)},
		},
		Tokens: []config.MonitorToken{
			{Name: "ops-script", Role: config.RoleAdmin, Token: adminToken},
			{Name: "prometheus", Role: config.RoleViewer, Token: viewerToken},
		},
		FailedLoginBurst:  burst,
		FailedLoginRefill: refill,
	}
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func basic(user, pw string) map[string]string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, pw)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func TestAuthEveryPath(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	enqueue(t, srv.Addr(), "emails", 4)
	var logs testutil.LogBuffer
	ts := serve(t, Options{Redis: redisAt(srv.Addr()), RootPath: "/ops/", Auth: authConfig(t, 100, time.Second), Logger: logs.Logger(t, nil)})
	c := noRedirect()
	const (
		unauthorized = "monitor: authentication required: log in as a user of monitor.auth.users, or send Authorization: Bearer TOKEN\n"
		wrong        = "monitor: wrong credentials\n"
	)
	tests := []struct {
		name      string
		hdr       map[string]string
		get       int
		getBody   string
		post      int
		postBody  string
		readOnlyU bool // the UI hides mutating actions
	}{
		{name: "no credentials", hdr: nil, get: 401, getBody: unauthorized, post: 401, postBody: unauthorized},
		{name: "wrong password", hdr: basic("alice", "guess"), get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "unknown user", hdr: basic("mallory", adminPassword), get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "malformed basic", hdr: map[string]string{"Authorization": "Basic !!!"}, get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "wrong token", hdr: bearer("not-a-token-at-all"), get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "empty token", hdr: map[string]string{"Authorization": "Bearer"}, get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "other scheme", hdr: map[string]string{"Authorization": "Digest username=alice"}, get: 401, getBody: wrong, post: 401, postBody: wrong},
		{name: "viewer user", hdr: basic("bob", viewerPassword), get: 200, post: 403, readOnlyU: true,
			postBody: "monitor: user \"bob\" has the role viewer, which may not change tasks or queues (POST refused); ask for an admin account\n"},
		{name: "viewer token", hdr: bearer(viewerToken), get: 200, post: 403, readOnlyU: true,
			postBody: "monitor: token \"prometheus\" has the role viewer, which may not change tasks or queues (POST refused); ask for an admin account\n"},
		{name: "admin user", hdr: basic("alice", adminPassword), get: 200, post: 204},
		{name: "admin token", hdr: bearer(adminToken), get: 200, post: 204},
	}
	for _, tc := range tests {
		resp, body := do(t, c, http.MethodGet, ts.URL+"/ops/api/queues", tc.hdr)
		if resp.StatusCode != tc.get || (tc.getBody != "" && body != tc.getBody) {
			t.Errorf("%s: GET api/queues = %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.get, tc.getBody)
		}
		if tc.get == 401 {
			if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, " | ") != `Basic realm="tuskq monitor", charset="UTF-8" | Bearer realm="tuskq monitor"` {
				t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
			}
		}
		// Every protected endpoint answers alike.
		for _, path := range []string{"/ops/", "/ops/fleet", "/ops/api/v1/fleet", "/metrics"} {
			if resp, _ := do(t, c, http.MethodGet, ts.URL+path, tc.hdr); resp.StatusCode != tc.get {
				t.Errorf("%s: GET %s = %d, want %d", tc.name, path, resp.StatusCode, tc.get)
			}
		}
		if tc.get == 200 {
			_, page := do(t, c, http.MethodGet, ts.URL+"/ops/", tc.hdr)
			want := `window.FLAG_READ_ONLY="false"`
			if tc.readOnlyU {
				want = `window.FLAG_READ_ONLY="true"`
			}
			if !strings.Contains(page, want) {
				t.Errorf("%s: UI lacks %s", tc.name, want)
			}
		}

		// A mutating call; resume afterwards so that each case starts alike.
		resp, body = do(t, c, http.MethodPost, ts.URL+"/ops/api/queues/emails:pause", tc.hdr)
		if resp.StatusCode != tc.post || (tc.postBody != "" && body != tc.postBody) {
			t.Errorf("%s: POST pause = %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.post, tc.postBody)
		}
		admin := basic("alice", adminPassword)
		paused := queues(t, ts.URL+"/ops/api/queues", admin)[0].Paused
		if paused != (tc.post == 204) {
			t.Errorf("%s: queue paused = %v after POST answered %d", tc.name, paused, resp.StatusCode)
		}
		if paused {
			if resp, _ := do(t, c, http.MethodPost, ts.URL+"/ops/api/queues/emails:resume", admin); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("resume: %d", resp.StatusCode)
			}
		}
	}

	// The health endpoints need no credentials.
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := do(t, c, http.MethodGet, ts.URL+path, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without credentials: %d, want 200", path, resp.StatusCode)
		}
	}
	// With authentication, any Host name is served.
	if resp, _ := do(t, c, http.MethodGet, ts.URL+"/ops/api/queues", map[string]string{"Host": "monitor.example.com", "Authorization": bearer(viewerToken)["Authorization"]}); resp.StatusCode != http.StatusOK {
		t.Errorf("foreign Host with credentials: %d, want 200", resp.StatusCode)
	}

	out := logs.String()
	for _, secret := range []string{adminPassword, viewerPassword, adminToken, viewerToken, "guess", "not-a-token-at-all", basic("alice", "guess")["Authorization"]} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
	var failed []map[string]any
	var actions []map[string]any
	for _, rec := range logRecords(t, out) {
		switch rec["msg"] {
		case "monitor login failed":
			failed = append(failed, rec)
		case "monitor action":
			actions = append(actions, rec)
		}
	}
	// 6 failing credentials × (1 GET + 4 endpoints + 1 POST).
	if len(failed) != 36 {
		t.Fatalf("%d failed-login records, want 36:\n%s", len(failed), out)
	}
	want := []struct{ auth, reason, user string }{
		{"basic", "wrong password", "alice"},
		{"basic", "unknown user", ""},
		{"basic", "malformed Basic credentials", ""},
		{"bearer", "unknown token", ""},
		{"bearer", "unknown token", ""},
		{"other", "unsupported authorization scheme", ""},
	}
	for i, w := range want {
		rec := failed[i*6]
		user, hasUser := rec["user"]
		if rec["level"] != "WARN" || rec["client"] != "127.0.0.1" || rec["auth"] != w.auth || rec["reason"] != w.reason ||
			rec["path"] != "/ops/api/queues" || hasUser != (w.user != "") || (hasUser && user != w.user) {
			t.Errorf("failed login record %d = %v, want %+v", i, rec, w)
		}
	}
	if len(actions) < 2 || actions[0]["user"] != "alice" || actions[0]["auth"] != "basic" || actions[0]["method"] != "POST" ||
		actions[0]["path"] != "/ops/api/queues/emails:pause" || actions[0]["client"] != "127.0.0.1" {
		t.Errorf("action records %v", actions)
	}
}

func TestFailedLoginsAreRateLimitedPerClient(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	var logs testutil.LogBuffer
	h, err := New(Options{Redis: redisAt(srv.Addr()), Auth: authConfig(t, 2, 10*time.Second), Now: clock.Now, Logger: logs.Logger(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	call := func(remote string, hdr map[string]string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/queues", nil)
		r.RemoteAddr = remote
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const attacker = "192.0.2.7:40000"
	good := basic("alice", adminPassword)
	for i := range 2 {
		if w := call(attacker, basic("alice", "guess")); w.Code != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, w.Code)
		}
	}
	// Out of attempts: refused before the password is looked at, even a
	// right one; other addresses are not affected.
	w := call(attacker, good)
	if w.Code != 429 || w.Header().Get("Retry-After") != "10" || w.Body.String() != "monitor: too many failed logins from 192.0.2.7; retry in 10s\n" {
		t.Errorf("after the burst: %d Retry-After %q %q", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if w := call("198.51.100.1:5000", good); w.Code != 200 {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	// No credentials is a prompt, not a failure, and is not limited.
	if w := call(attacker, nil); w.Code != 401 {
		t.Errorf("no credentials while limited: %d, want 401", w.Code)
	}
	clock.Advance(4 * time.Second)
	if w := call(attacker, good); w.Code != 429 || w.Header().Get("Retry-After") != "6" {
		t.Errorf("4s later: %d Retry-After %q, want 429 and 6", w.Code, w.Header().Get("Retry-After"))
	}
	clock.Advance(6 * time.Second)
	if w := call(attacker, good); w.Code != 200 {
		t.Errorf("10s later: %d, want 200", w.Code)
	}
	// IPv6 clients are limited by their /64.
	for _, remote := range []string{"[2001:db8::1]:1", "[2001:db8::2]:1"} {
		call(remote, bearer("wrong-token-0123456789"))
	}
	if w := call("[2001:db8::ffff]:1", bearer(adminToken)); w.Code != 429 || w.Body.String() != "monitor: too many failed logins from 2001:db8::/64; retry in 10s\n" {
		t.Errorf("same /64: %d %q, want 429", w.Code, w.Body.String())
	}

	var reached []map[string]any
	for _, rec := range logs.Records(t, "") {
		if rec["msg"] == "monitor login rate limit reached; refusing the client until it regains attempts" {
			reached = append(reached, rec)
		}
	}
	if len(reached) != 2 || reached[0]["client"] != "192.0.2.7" || reached[0]["refill"] != "10s" || reached[1]["client"] != "2001:db8::/64" {
		t.Errorf("rate-limit records %v", reached)
	}

	w = callPath(t, h, "/metrics", bearer(viewerToken))
	for _, want := range []string{
		`tuskq_monitor_failed_logins_total{method="basic"} 2`,
		`tuskq_monitor_failed_logins_total{method="bearer"} 2`,
		"tuskq_monitor_login_rate_limited_total 3",
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// callPath serves GET path from 127.0.0.1 straight through h.
func callPath(t *testing.T, h http.Handler, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestNewRejectsBadAuth(t *testing.T) {
	t.Parallel()
	good := authConfig(t, 1, time.Second)
	for _, tc := range []struct {
		name   string
		change func(*config.MonitorAuthConfig)
		want   string
	}{
		{"bad hash", func(a *config.MonitorAuthConfig) { a.Users[1].PasswordHash = "plaintext" },
			`monitor: invalid options: monitor.auth.users[1].password_hash of "bob" is not a bcrypt hash (crypto/bcrypt: hashedSecret too short to be a bcrypted password); make one with: monitor hash-password`},
		{"bad role", func(a *config.MonitorAuthConfig) { a.Users[0].Role = "root" },
			`monitor: invalid options: monitor.auth.users[0].role of "alice": role "root" is not viewer or admin`},
		{"duplicate user", func(a *config.MonitorAuthConfig) { a.Users[1].Name = "alice" },
			`monitor: invalid options: monitor.auth.users[1].name "alice" is empty or taken`},
		{"short token", func(a *config.MonitorAuthConfig) { a.Tokens[0].Token = "short" },
			`monitor: invalid options: monitor.auth.tokens[0].token of "ops-script" is shorter than 16 characters`},
	} {
		a := good
		a.Users = append([]config.MonitorUser(nil), good.Users...)
		a.Tokens = append([]config.MonitorToken(nil), good.Tokens...)
		tc.change(&a)
		_, err := New(Options{Redis: redisAt("127.0.0.1:1"), Auth: a})
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

func TestRunListensEverywhereWithAuth(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var status testutil.LogBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Redis: redisAt(srv.Addr()), Listen: "0.0.0.0:0", Auth: authConfig(t, 5, time.Second),
			Status: &status, OnListen: func(a net.Addr) { listening <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	want := "monitor: serving http://" + addr.String() + "/ (Redis " + srv.Addr() + "; authentication: 2 users, 2 tokens)\n"
	if status.String() != want {
		t.Errorf("status %q, want %q", status.String(), want)
	}
	resp, _ := do(t, noRedirect(), http.MethodGet, "http://127.0.0.1:"+port+"/api/queues", bearer(viewerToken))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET with a token: %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
