package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// testHash has the shape of a bcrypt hash (cost 4); the config package
// checks the shape only.
const testHash = "$2a$04$abcdefghijklmnopqrstuu5pNsC7mU2PxRQjbJ1MKD3IGqKEnDeCS"

func TestLoadMonitorAuthFromFileEnvAndSet(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
monitor:
  auth:
    users:
      - {name: alice, role: admin, password_hash: "`+testHash+`"}
      - name: bob
        role: viewer
        password_hash: '`+testHash+`'
    tokens: [{name: prometheus, role: viewer, token: 0123456789abcdef}]
    failed_login_burst: 3
`)
	c, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := MonitorAuthConfig{
		Users: []MonitorUser{
			{Name: "alice", Role: RoleAdmin, PasswordHash: testHash},
			{Name: "bob", Role: RoleViewer, PasswordHash: testHash},
		},
		Tokens:            []MonitorToken{{Name: "prometheus", Role: RoleViewer, Token: "0123456789abcdef"}},
		FailedLoginBurst:  3,
		FailedLoginRefill: Default().Monitor.Auth.FailedLoginRefill,
	}
	if !reflect.DeepEqual(c.Monitor.Auth, want) || !c.Monitor.Auth.Enabled() {
		t.Errorf("from file: %+v\nwant %+v", c.Monitor.Auth, want)
	}

	// The environment replaces the file's list; JSON works as well as YAML
	// flow; an empty value means none.
	c, err = Load(LoadOptions{File: path, Environ: []string{
		`TUSKQ_MONITOR_AUTH_USERS=[{"name": "carol", "role": "admin", "password_hash": "` + testHash + `"}]`,
		`TUSKQ_MONITOR_AUTH_TOKENS=`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Monitor.Auth; len(got.Users) != 1 || got.Users[0].Name != "carol" || got.Tokens != nil {
		t.Errorf("from environment: %+v", got)
	}
	c, err = Load(LoadOptions{Flags: testFlags(t, "--set", "monitor.auth.tokens=[{name: ci, role: admin, token: fedcba9876543210}]")})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Monitor.Auth.Tokens; len(got) != 1 || got[0] != (MonitorToken{Name: "ci", Role: RoleAdmin, Token: "fedcba9876543210"}) {
		t.Errorf("from --set: %+v", got)
	}
	if Default().Monitor.Auth.Enabled() {
		t.Error("the default configuration has authentication enabled")
	}
}

func TestLoadMonitorAuthErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  []string
		want string
	}{
		{
			name: "unknown record key",
			file: "monitor: {auth: {users: [{name: a, role: admin, pasword_hash: x}]}}\n",
			want: `config: FILE: unknown key "monitor.auth.users[0].pasword_hash" (did you mean "monitor.auth.users[0].password_hash"?)`,
		},
		{
			name: "not a list",
			file: "monitor: {auth: {tokens: {name: a}}}\n",
			want: `config: FILE: monitor.auth.tokens: "****" is not valid; expected a list of mappings of name, role and token, such as [{name: ops, …}]`,
		},
		{
			name: "a record that is not a mapping",
			file: "monitor: {auth: {users: [alice]}}\n",
			want: `config: FILE: monitor.auth.users[0]: "****" is not valid; expected a mapping of name, role and password_hash`,
		},
		{
			name: "a field that is not a string",
			file: "monitor: {auth: {tokens: [{name: [a], role: admin, token: x}]}}\n",
			want: `config: FILE: monitor.auth.tokens[0].name: a list is not valid; expected a string`,
		},
		{
			name: "malformed environment value is masked",
			env:  []string{`TUSKQ_MONITOR_AUTH_TOKENS=[{name: ci, token: s3cr3t`},
			want: `config: TUSKQ_MONITOR_AUTH_TOKENS: monitor.auth.tokens: "****" is not valid; expected a list of mappings of name, role and token, such as [{name: ops, …}]`,
		},
		{
			name: "secret field of the wrong type is masked",
			file: "monitor: {auth: {tokens: [{name: ci, role: admin, token: [s3cr3t]}]}}\n",
			want: `config: FILE: monitor.auth.tokens[0].token: "****" is not valid; expected a string`,
		},
		{
			name: "validation names the record, its source and masks secrets",
			file: "monitor:\n  auth:\n    users:\n      - {name: alice, role: admin, password_hash: " + testHash + "}\n" +
				"      - {name: alice, role: root, password_hash: hunter2}\n" +
				"      - {name: 'a:b', role: viewer, password_hash: " + testHash + "}\n" +
				"    failed_login_burst: 0\n",
			env: []string{"TUSKQ_MONITOR_AUTH_TOKENS=[{name: ci, role: admin, token: short}, {name: ci2, role: viewer, token: 0123456789abcdef}, {name: ci3, role: viewer, token: 0123456789abcdef}]"},
			want: `config: FILE: monitor.auth.users[1].name: "alice" is not valid; expected a name no other user has
config: FILE: monitor.auth.users[1].role: "root" is not valid; expected viewer or admin
config: FILE: monitor.auth.users[1].password_hash: "****" is not valid; expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters) such as the output of: monitor hash-password
config: FILE: monitor.auth.users[2].name: "a:b" is not valid; expected a login name that is not empty and has no ':', spaces or control characters
config: TUSKQ_MONITOR_AUTH_TOKENS: monitor.auth.tokens[0].token: "****" is not valid; expected at least 16 characters without spaces, such as the output of: openssl rand -hex 24
config: TUSKQ_MONITOR_AUTH_TOKENS: monitor.auth.tokens[2].token: "****" is not valid; expected a token no other token has
config: FILE: monitor.auth.failed_login_burst: 0 is not valid; expected at least 1`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := LoadOptions{Environ: tc.env}
			want := tc.want
			if tc.file != "" {
				opts.File = writeConfig(t, tc.file)
				want = strings.ReplaceAll(want, "FILE", opts.File)
			}
			_, err := Load(opts)
			if err == nil || err.Error() != want {
				t.Fatalf("Load() error:\n%v\nwant:\n%s", err, want)
			}
			for _, secret := range []string{"s3cr3t", "hunter2", "short"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the secret %q", secret)
				}
			}
		})
	}
}

func TestWriteMasksMonitorAuth(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Monitor.Auth.Users = []MonitorUser{{Name: "alice", Role: RoleAdmin, PasswordHash: testHash}}
	c.Monitor.Auth.Tokens = []MonitorToken{{Name: "prometheus", Role: RoleViewer, Token: "0123456789abcdef"}}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	want := "  auth:\n" +
		"    users:\n      - {name: alice, role: admin, password_hash: '****'}\n" +
		"    tokens:\n      - {name: prometheus, role: viewer, token: '****'}\n"
	if !strings.Contains(buf.String(), want) {
		t.Errorf("output lacks\n%s\nin\n%s", want, buf.String())
	}
	if c.Monitor.Auth.Users[0].PasswordHash != testHash || c.Monitor.Auth.Tokens[0].Token != "0123456789abcdef" {
		t.Error("Write changed the caller's config")
	}
}
