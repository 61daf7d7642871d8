package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary file contents to Load: it must never panic, its
// errors must start with "config: ", and a config it accepts must be valid
// and survive Write → Load unchanged (secrets aside, which Write masks).
func FuzzLoad(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("redis:\n  addr: 10.0.0.1:6379\n  password: hunter2\n"))
	f.Add([]byte("worker: {queues: {critical: 6, low: 1}, shutdown_timeout: 30s, http_allow_hosts: [a.example, 'b:1']}\n"))
	f.Add([]byte("routes:\n  email:*: {queue: low, max_retry: 3, timeout: 1m, unique_ttl: 1h}\n  '*': {}\n"))
	f.Add([]byte("worker: {queues: 'a=1,b=2', concurrency: '5'}\nlog: {level: debug, format: text, payloads: true}\n"))
	f.Add([]byte("redis: {mode: cluster, addrs: 'a:1,b:2', tls: {server_name: x}}\n"))
	f.Add([]byte("redis: {sentinel_password: s3ntinel}\nmonitor: {auth: {users: [{name: ada, role: admin, password_hash: '$2a$10$abcdefghijklmnopqrstuv'}], tokens: [{name: m, role: viewer, token: monitortokenmonitortoken}]}}\n"))
	f.Add([]byte("api: {listen: '0.0.0.0:1', tokens: [{name: ci, token: abcdefabcdefabcdef, queues: [low], task_types: 'a:*,b'}], max_batch: 2}\n"))
	f.Add([]byte("otel: {enabled: true, protocol: http, endpoint: 'https://c:4318', headers: 'api-key=s3cr%20t', sampler: parentbased_traceidratio, sampler_ratio: 0.25, resource_attributes: 'a=b,c=d', redis: true}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(LoadOptions{File: path})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted an invalid config: %v", err)
		}
		got, out := roundTrip(t, c)
		// The oracle does not use mask: the secrets are listed by hand.
		want := cloneSecrets(c)
		for _, p := range secrets(&want) {
			if *p != "" {
				*p = "****"
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the config:\ngot  %+v\nwant %+v\nwritten:\n%s", got, want, out)
		}
		// No secret appears in the output, unless it is also some other
		// value's text (a password "default" and the queue "default").
		blank := cloneSecrets(c)
		for _, p := range secrets(&blank) {
			*p = ""
		}
		var buf bytes.Buffer
		if err := Write(&buf, blank); err != nil {
			t.Fatal(err)
		}
		for _, p := range secrets(&c) {
			if *p != "" && !strings.Contains(buf.String(), *p) && strings.Contains(out, *p) {
				t.Fatalf("secret %q appears in the written config:\n%s", *p, out)
			}
		}
	})
}

// secrets returns the secret fields of c, listed by hand (independently of
// the secret:"true" tags that Write's mask reads).
func secrets(c *Config) []*string {
	out := []*string{&c.Redis.Password, &c.Redis.SentinelPassword, &c.OTel.Headers}
	for i := range c.Monitor.Auth.Users {
		out = append(out, &c.Monitor.Auth.Users[i].PasswordHash)
	}
	for i := range c.Monitor.Auth.Tokens {
		out = append(out, &c.Monitor.Auth.Tokens[i].Token)
	}
	for i := range c.API.Tokens {
		out = append(out, &c.API.Tokens[i].Token)
	}
	return out
}

// cloneSecrets copies c with its own copies of the slices that hold
// secrets, so that changing them leaves c alone.
func cloneSecrets(c Config) Config {
	c.Monitor.Auth.Users = slices.Clone(c.Monitor.Auth.Users)
	c.Monitor.Auth.Tokens = slices.Clone(c.Monitor.Auth.Tokens)
	c.API.Tokens = slices.Clone(c.API.Tokens)
	return c
}
