package plugins_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/plugins"
)

const fullManifest = `name: image-tools
version: 1.4.2
description: Resizes images
runtime: process
entry: ./bin/../bin/tool
args: [--fast]
task_types:
  image:resize:
    queue: critical
    max_retry: 2
    timeout: 45s
    schema:
      type: object
      required: [url]
      properties:
        url: {type: string}
  image:crop:
config:
  quality: 80
  formats: [png, jpeg]
  nested: {a: true, b: null}
limits:
  timeout: 2m
  max_concurrency: 8
env: [AWS_REGION]
`

func TestParseManifest(t *testing.T) {
	t.Parallel()
	m, err := plugins.ParseManifest("plugin.yaml", []byte(fullManifest))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %q %s %s %v %v %v %v %v", m.Name, m.Version, m.Description, m.Runtime, m.Entry, m.Args,
		m.TypeNames(), m.Config, m.Limits, m.Env)
	want := `image-tools 1.4.2 "Resizes images" process bin/tool [--fast] [image:crop image:resize] map[formats:[png jpeg] nested:map[a:true b:<nil>] quality:80] {2m0s 8 0} [AWS_REGION]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	crop, resize := m.TaskTypes[0], m.TaskTypes[1]
	if crop.Schema != nil || m.TypeTimeout(crop) != 2*time.Minute || resize.Queue != "critical" || *resize.MaxRetry != 2 ||
		m.TypeTimeout(resize) != 45*time.Second || string(resize.Schema.JSON()) != `{"properties":{"url":{"type":"string"}},"required":["url"],"type":"object"}` {
		t.Fatalf("task types: %+v %+v", crop, resize)
	}
	if err := resize.Schema.Validate([]byte(`{"url": 5}`)); err == nil || err.Error() != "at /url: got number, want string" {
		t.Fatalf("Validate: %v", err)
	}
	if routes := m.Routes(); len(routes) != 1 || routes[0].Pattern != "image:resize" || routes[0].Queue != "critical" {
		t.Fatalf("Routes: %+v", routes)
	}
}

func TestParseManifestErrors(t *testing.T) {
	t.Parallel()
	base := "name: x\nversion: '1'\nruntime: process\nentry: run\n"
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"empty", "", "f.yaml: the file is empty; see docs/plugins.md for the fields"},
		{"not yaml", "name: [", "f.yaml: not valid YAML: line 1: did not find expected node content"},
		{"not a mapping", "- a", "f.yaml: line 1: the manifest must be a mapping, got a list"},
		{"missing everything", "description: d\n", strings.Join([]string{
			"f.yaml: line 1: name: missing: want a name such as image-tools (lower-case letters, digits, '.', '_', '-')",
			"f.yaml: line 1: version: missing: want a version such as 1.0.0",
			"f.yaml: line 1: runtime: missing: want process, exec or native",
			"f.yaml: line 1: entry: missing: want the path of the program or library inside the plugin directory, such as bin/plugin",
			"f.yaml: line 1: task_types: missing: list the task types the plugin handles, such as\n  task_types:\n    image:resize: {}",
		}, "\nplugins: ")},
		{"unknown field", base + "task_types: {a:b: {}}\ntimeout: 3s\n",
			"f.yaml: line 6: timeout: unknown field; the fields of the manifest are name, version, description, runtime, entry, args, task_types, config, limits, env, sandbox"},
		{"unknown task field", base + "task_types:\n  a:b: {retries: 3}\n",
			"f.yaml: line 6: task_types.a:b.retries: unknown field; the fields of task_types.a:b are queue, max_retry, timeout, schema"},
		{"duplicate key", base + "name: y\ntask_types: {a:b: {}}\n", "f.yaml: line 5: name: set twice; set it once"},
		{"bad name", strings.Replace(base, "name: x", "name: My Plugin", 1) + "task_types: {a:b: {}}\n",
			"f.yaml: line 1: name: \"My Plugin\" is not a plugin name: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"},
		{"entry outside", strings.Replace(base, "entry: run", "entry: ../run", 1) + "task_types: {a:b: {}}\n",
			"f.yaml: line 4: entry: \"../run\" is not inside the plugin directory: give a relative path such as bin/plugin"},
		{"no task types", base + "task_types: {}\n", "f.yaml: line 5: task_types: empty: the plugin must handle at least one task type"},
		{"bad type", base + "task_types: {\"a b\": {}}\n", "f.yaml: line 5: task_types.a b: \"a b\" contains ' '; use letters, digits and punctuation other than '*'"},
		{"bad timeout", base + "task_types: {a:b: {timeout: soon}}\n", "f.yaml: line 5: task_types.a:b.timeout: want a duration greater than 0 such as 30s or 5m, got \"soon\""},
		{"bad max_retry", base + "task_types: {a:b: {max_retry: -1}}\n", "f.yaml: line 5: task_types.a:b.max_retry: want an integer of 0 or more, got \"-1\""},
		{"bad schema", base + "task_types: {a:b: {schema: {type: objekt}}}\n",
			"f.yaml: line 5: task_types.a:b.schema: not a valid JSON Schema: at /type: got string, want array; at /type: value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'"},
		{"schema ref outside", base + "task_types: {a:b: {schema: {$ref: 'file:///etc/passwd'}}}\n",
			"f.yaml: line 5: task_types.a:b.schema: not a valid JSON Schema: failing loading \"file:///etc/passwd\": $ref \"file:///etc/passwd\" points outside the schema; schemas must be self-contained (use $defs)"},
		{"bad limits", base + "task_types: {a:b: {}}\nlimits: {max_concurrency: 0, timeout: 0s}\n", strings.Join([]string{
			"f.yaml: line 6: limits.timeout: want a duration greater than 0 such as 30s or 5m, got \"0s\"",
			"f.yaml: line 6: limits.max_concurrency: want an integer from 1 to 1024, got \"0\"",
		}, "\nplugins: ")},
		{"bad env", base + "task_types: {a:b: {}}\nenv: [HOME, 'A-B', TUSKQ_PLUGIN_NAME]\n", strings.Join([]string{
			"f.yaml: line 6: env: \"A-B\" is not an environment variable name: use letters, digits and '_'",
			"f.yaml: line 6: env: TUSKQ_PLUGIN_NAME is set by tuskq for every plugin; remove it from the list",
		}, "\nplugins: ")},
		{"config not mapping", base + "task_types: {a:b: {}}\nconfig: [1]\n", "f.yaml: line 6: config: want a mapping of configuration defaults, got a list"},
		{"config NaN", base + "task_types: {a:b: {}}\nconfig: {x: .nan}\n", "f.yaml: line 6: config: line 6: .nan is not a JSON number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := plugins.ParseManifest("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, plugins.ErrManifest) {
				t.Errorf("error does not wrap ErrManifest: %v", err)
			}
			if got, want := err.Error(), "plugins: "+tt.want; got != want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// FuzzParseManifest checks that no input panics the parser and that every
// accepted manifest is complete.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(fullManifest))
	f.Add([]byte("name: x\nversion: '1'\nruntime: exec\nentry: run\ntask_types: {a:b: {schema: true}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := plugins.ParseManifest("f.yaml", data)
		if err != nil {
			if !errors.Is(err, plugins.ErrManifest) || !strings.HasPrefix(err.Error(), "plugins: f.yaml: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if m.Name == "" || m.Version == "" || m.Runtime == "" || m.Entry == "" || len(m.TaskTypes) == 0 ||
			m.Limits.MaxConcurrency < 1 || m.Limits.Timeout <= 0 || m.Config == nil {
			t.Fatalf("accepted an incomplete manifest: %+v", m)
		}
	})
}

func TestParseManifestWasm(t *testing.T) {
	t.Parallel()
	const base = "name: w\nversion: 1\nruntime: %s\nentry: w.wasm\ntask_types:\n  w:x: {}\n"
	m, err := plugins.ParseManifest("f.yaml", fmt.Appendf(nil, base+"limits:\n  memory: 128MiB\nsandbox:\n  dirs: [data, .]\n  clock: true\n  random: false\n  http: true\n", "wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%d %+v", m.Limits.Memory, m.Sandbox); got != "134217728 {Dirs:[data .] Clock:true Random:false HTTP:true}" {
		t.Fatalf("got %s", got)
	}
	for _, c := range []struct{ runtime, extra, want string }{
		{"exec", "sandbox:\n  clock: true\n", "f.yaml: line 8: sandbox: only the wasm runtime has a sandbox; remove it, or use runtime: wasm"},
		{"exec", "limits:\n  memory: 1MiB\n", "f.yaml: line 8: limits.memory: only the wasm runtime caps memory; remove it, or use runtime: wasm"},
		{"wasm", "limits:\n  memory: 100KiB\n", `f.yaml: line 8: limits.memory: want a size from 64KiB to 4GiB in whole 64KiB pages, such as 64MiB, got "100KiB"`},
		{"wasm", "limits:\n  memory: 5GiB\n", `f.yaml: line 8: limits.memory: want a size from 64KiB to 4GiB in whole 64KiB pages, such as 64MiB, got "5GiB"`},
		{"wasm", "sandbox:\n  dirs: [../etc]\n", `f.yaml: line 8: sandbox.dirs: "../etc" is not a directory inside the plugin directory: give a clean relative path such as data (mounted read-only at /data)`},
		{"wasm", "sandbox:\n  dirs: [/etc]\n", `f.yaml: line 8: sandbox.dirs: "/etc" is not a directory inside the plugin directory: give a clean relative path such as data (mounted read-only at /data)`},
		{"wasm", "sandbox:\n  clock: yes please\n", `f.yaml: line 8: sandbox.clock: want true or false, got "yes please"`},
		{"wasm", "sandbox:\n  network: true\n", "f.yaml: line 8: sandbox.network: unknown field; the fields of sandbox are dirs, clock, random, http"},
	} {
		_, err := plugins.ParseManifest("f.yaml", fmt.Appendf(nil, base+c.extra, c.runtime))
		if err == nil || err.Error() != "plugins: "+c.want {
			t.Errorf("%s%s: error\n%v\nwant\nplugins: %s", c.runtime, c.extra, err, c.want)
		}
	}
}
