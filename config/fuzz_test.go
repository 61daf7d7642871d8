package config

import (
	"os"
	"path/filepath"
	"reflect"
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
	f.Add([]byte("api: {listen: '0.0.0.0:1', tokens: [{name: ci, token: abcdefabcdefabcdef, queues: [low], task_types: 'a:*,b'}], max_batch: 2}\n"))
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
		if want := mask(c, newSchema()); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the config:\ngot  %+v\nwant %+v\nwritten:\n%s", got, want, out)
		}
	})
}
