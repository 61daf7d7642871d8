package config

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// A config file holding secrets that group or others may read is refused,
// naming the file, its mode, the secret keys and the fix; the operator can
// allow it with a flag or a variable, never from the file itself.
func TestReadableFileWithSecrets(t *testing.T) {
	t.Parallel()
	const withPassword = "redis:\n  addr: localhost:6379\n  password: hunter2hunter2\n"
	const withToken = "api:\n  tokens:\n    - {name: ops, token: 0123456789abcdef0123}\n"
	const noSecret = "redis:\n  addr: localhost:6379\n  password: \"\"\n"
	refused := func(path string, mode os.FileMode, keys string) string {
		return fmt.Sprintf("config: config file holding secrets is readable by group or others: "+
			"%s has mode %04o and holds %s; make it readable by its owner only (chmod 600 %s), "+
			"or start with --allow-readable-config (or TUSKQ_ALLOW_READABLE_CONFIG=true) to accept the risk",
			path, mode, keys, path)
	}
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		opts    func(path string) LoadOptions
		want    func(path string) string // "" means loaded
	}{
		{"password, 0644", withPassword, 0o644, nil, func(p string) string { return refused(p, 0o644, "redis.password") }},
		{"password, 0640", withPassword, 0o640, nil, func(p string) string { return refused(p, 0o640, "redis.password") }},
		{"password, 0604", withPassword, 0o604, nil, func(p string) string { return refused(p, 0o604, "redis.password") }},
		{"token, 0644", withToken, 0o644, nil, func(p string) string { return refused(p, 0o644, "api.tokens") }},
		{"password, 0600", withPassword, 0o600, nil, nil},
		{"password, 0400", withPassword, 0o400, nil, nil},
		{"no secret, 0644", noSecret, 0o644, nil, nil},
		{"flag", withPassword, 0o644, func(p string) LoadOptions {
			return LoadOptions{File: p, Flags: testFlags(t, "--allow-readable-config")}
		}, nil},
		{"environment", withPassword, 0o644, func(p string) LoadOptions {
			return LoadOptions{File: p, Environ: []string{"TUSKQ_ALLOW_READABLE_CONFIG=true"}}
		}, nil},
		{"environment false", withPassword, 0o644, func(p string) LoadOptions {
			return LoadOptions{File: p, Environ: []string{"TUSKQ_ALLOW_READABLE_CONFIG=false"}}
		}, func(p string) string { return refused(p, 0o644, "redis.password") }},
		{"environment bad", withPassword, 0o644, func(p string) LoadOptions {
			return LoadOptions{File: p, Environ: []string{"TUSKQ_ALLOW_READABLE_CONFIG=sure"}}
		}, func(string) string { return `config: TUSKQ_ALLOW_READABLE_CONFIG="sure": want true or false` }},
		{"option", withPassword, 0o644, func(p string) LoadOptions {
			return LoadOptions{File: p, AllowReadableFile: true}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.content)
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			opts := LoadOptions{File: path}
			if tc.opts != nil {
				opts = tc.opts(path)
			}
			_, err := Load(opts)
			want := ""
			if tc.want != nil {
				want = tc.want(path)
			}
			switch {
			case want == "" && err != nil:
				t.Fatalf("Load: %v; want the file loaded", err)
			case want != "" && (err == nil || err.Error() != want):
				t.Fatalf("Load: %v\nwant: %s", err, want)
			}
			if want != "" && tc.name != "environment bad" && !errors.Is(err, ErrReadableSecrets) {
				t.Errorf("error %v does not wrap ErrReadableSecrets", err)
			}
		})
	}
}
