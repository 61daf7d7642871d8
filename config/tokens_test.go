package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLoadAPITokens reads api.tokens from a file, the environment and
// --set, each replacing the list of the layer below.
func TestLoadAPITokens(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `api:
  listen: 0.0.0.0:9000
  max_batch: 50
  idempotency_ttl: 1h
  tokens:
    - {name: ci, token: aaaaaaaaaaaaaaaaaaaa}
    - name: billing
      token: bbbbbbbbbbbbbbbbbbbb
      queues: [low, default]
      task_types: "invoice:*,email:send"
`)
	c, err := Load(LoadOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	want := []APIToken{
		{Name: "ci", Token: "aaaaaaaaaaaaaaaaaaaa"},
		{Name: "billing", Token: "bbbbbbbbbbbbbbbbbbbb", Queues: []string{"low", "default"}, TaskTypes: []string{"invoice:*", "email:send"}},
	}
	if !reflect.DeepEqual(c.API.Tokens, want) {
		t.Errorf("file tokens = %+v\nwant %+v", c.API.Tokens, want)
	}
	if c.API.Listen != "0.0.0.0:9000" || c.API.MaxBatch != 50 || c.API.IdempotencyTTL != time.Hour || c.API.MaxBodyBytes != 4<<20 {
		t.Errorf("api = %+v", c.API)
	}

	c, err = Load(LoadOptions{File: file, Environ: []string{`TUSKQ_API_TOKENS=[{"name":"env","token":"cccccccccccccccccccc","queues":["low"]},{"name":"release","token":"eeeeeeeeeeeeeeeeeeee","scopes":["admin"]}]`}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []APIToken{{Name: "env", Token: "cccccccccccccccccccc", Queues: []string{"low"}}, {Name: "release", Token: "eeeeeeeeeeeeeeeeeeee", Scopes: []string{"admin"}}}; !reflect.DeepEqual(c.API.Tokens, want) {
		t.Errorf("env tokens = %+v", c.API.Tokens)
	}

	c, err = Load(LoadOptions{File: file, Flags: testFlags(t, "--set", "api.tokens=[{name: set, token: dddddddddddddddddddd}]")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []APIToken{{Name: "set", Token: "dddddddddddddddddddd"}}; !reflect.DeepEqual(c.API.Tokens, want) {
		t.Errorf("--set tokens = %+v", c.API.Tokens)
	}

	// An empty value clears the list.
	c, err = Load(LoadOptions{File: file, Environ: []string{"TUSKQ_API_TOKENS="}})
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Tokens != nil {
		t.Errorf("cleared tokens = %+v", c.API.Tokens)
	}
}

// TestLoadAPIErrors checks the exact message of each bad api value; no
// message shows a token.
func TestLoadAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want string
	}{
		{
			name: "unknown token key",
			file: "api:\n  tokens:\n    - {name: ci, tokn: aaaaaaaaaaaaaaaaaaaa}\n",
			want: `config: FILE: unknown key "api.tokens[0].tokn" (did you mean "api.tokens[0].token"?)`,
		},
		{
			name: "token not a string",
			file: "api:\n  tokens:\n    - {name: ci, token: [secretsecretsecret]}\n",
			want: `config: FILE: api.tokens[0].token: "****" is not valid; expected a string`,
		},
		{
			name: "entry not a mapping",
			file: "api:\n  tokens: [secretsecretsecretsecret]\n",
			want: `config: FILE: api.tokens[0]: "****" is not valid; expected a mapping of name, token, queues and task_types`,
		},
		{
			name: "tokens not a list",
			file: "api:\n  tokens: secretsecretsecretsecret\n",
			want: `config: FILE: api.tokens: "****" is not valid; expected ` + tokensExpected,
		},
		{
			name: "queues wrong type",
			file: "api:\n  tokens:\n    - {name: ci, token: aaaaaaaaaaaaaaaaaaaa, queues: {low: 1}}\n",
			want: `config: FILE: api.tokens[0].queues: a mapping is not valid; expected a list of strings, or one comma-separated string`,
		},
		{
			name: "env not YAML",
			env:  []string{`TUSKQ_API_TOKENS=[{"name": "ci", "token": "secretsecretsecret"`},
			want: `config: TUSKQ_API_TOKENS: api.tokens: "****" is not valid; expected ` + tokensExpected,
		},
		{
			name: "set unknown key",
			args: []string{"--set", "api.tokens=[{name: ci, token: secretsecretsecret, queue: [low]}]"},
			want: `config: --set: unknown key "api.tokens[0].queue" (did you mean "api.tokens[0].queues"?)`,
		},
		{
			name: "validation",
			file: `api:
  listen: nowhere
  max_body_bytes: 10
  max_batch: 0
  idempotency_ttl: 10ms
  tokens:
    - {name: "", token: "has space in it!!"}
    - {name: ci, token: ""}
    - {name: ci, token: aaaaaaaaaaaaaaaaaaaa, queues: ["a b"], task_types: ["a*b"]}
`,
			want: `config: FILE: api.listen: "nowhere" is not valid; expected host:port such as 127.0.0.1:8090
config: FILE: api.tokens[0].name: "" is not valid; expected a name that is not empty and has no spaces, control characters or braces
config: FILE: api.tokens[0].token: "****" is not valid; expected a secret without spaces or control characters, such as the output of openssl rand -hex 24
config: FILE: api.tokens[1].token: "" is not valid; expected a secret without spaces or control characters, such as the output of openssl rand -hex 24
config: FILE: api.tokens[2].name: "ci" is not valid; expected a name no other token has
config: FILE: api.tokens[2].queues: "a b" is not valid; expected a queue name that has no spaces, control characters or braces
config: FILE: api.tokens[2].task_types: "a*b" is not valid; expected a task type such as email:send or a prefix pattern such as email:* (only a trailing *)
config: FILE: api.max_body_bytes: 10 is not valid; expected at least 1024
config: FILE: api.max_batch: 0 is not valid; expected at least 1
config: FILE: api.idempotency_ttl: 10ms is not valid; expected a duration of at least 1s`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := LoadOptions{Environ: tt.env}
			want := tt.want
			if tt.file != "" {
				opts.File = writeConfig(t, tt.file)
				want = strings.ReplaceAll(want, "FILE", opts.File)
			}
			if tt.args != nil {
				opts.Flags = testFlags(t, tt.args...)
			}
			_, err := Load(opts)
			if err == nil {
				t.Fatalf("Load succeeded; want %s", want)
			}
			if err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
			if strings.Contains(err.Error(), "secretsecret") || strings.Contains(err.Error(), "has space") {
				t.Errorf("a token leaked into the error: %s", err)
			}
		})
	}
}

// TestWriteAPITokens prints tokens masked, one flow mapping per token.
func TestWriteAPITokens(t *testing.T) {
	t.Parallel()
	c := Default()
	c.API.Tokens = []APIToken{
		{Name: "ci", Token: "aaaaaaaaaaaaaaaaaaaa"},
		{Name: "billing", Token: "bbbbbbbbbbbbbbbbbbbb", Queues: []string{"low"}, TaskTypes: []string{"invoice:*"}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	want := "api:\n  listen: 127.0.0.1:8090\n  tokens:\n    - {name: ci, token: '****'}\n" +
		"    - {name: billing, token: '****', queues: [low], task_types: ['invoice:*']}\n"
	if !strings.Contains(buf.String(), want) {
		t.Errorf("output lacks\n%s\nin\n%s", want, buf.String())
	}
	if c.API.Tokens[0].Token != "aaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("Write changed the caller's tokens: %+v", c.API.Tokens)
	}
}
