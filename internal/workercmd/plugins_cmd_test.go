package workercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// runPlugins runs "worker plugins ARGS --redis-addr addr" and returns the
// exit code, stdout and stderr.
func runPlugins(t *testing.T, addr string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"plugins"}, args...)
	if addr != "" {
		all = append(all, "--redis-addr", addr)
	}
	code := Main(t.Context(), Env{Args: all, Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func expect(t *testing.T, what string, code int, stdout, stderr string, wantCode int, wantOut, wantErr string) {
	t.Helper()
	if code != wantCode || stdout != wantOut || stderr != wantErr {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d\nstdout:\n%s\nstderr:\n%s", what, code, stdout, stderr, wantCode, wantOut, wantErr)
	}
}

// openWorker opens a fleet state as a worker would and reports loaded.
func openWorker(t *testing.T, addr, id string, loaded ...plugins.LoadedPlugin) *fleetstate.State {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := fleetstate.Open(context.WithoutCancel(t.Context()), rdb, fleetstate.Options{WorkerID: id, ResyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.WithoutCancel(t.Context())) })
	if err := s.Report(t.Context(), loaded); err != nil {
		t.Fatal(err)
	}
	return s
}

var loadedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestPluginsCommand(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr := srv.Addr()

	code, out, errOut := runPlugins(t, addr, "list")
	expect(t, "list of an empty fleet", code, out, errOut, 0, "no plugins: no worker reports one and none has fleet state (0 workers reporting)\n", "")

	hello := plugins.LoadedPlugin{Name: "hello", Version: "1.0.0", Runtime: "native", Status: "loaded", TaskTypes: []string{"hello:greet"}, LoadedAt: loadedAt}
	w1 := openWorker(t, addr, "host-a:10:u1", hello,
		plugins.LoadedPlugin{Name: "resize", Version: "2.0.0", Runtime: "process", Status: "failed", Error: "plugins: resize:\n  entry bin/resize: not found", TaskTypes: []string{"image:resize"}})
	openWorker(t, addr, "host-b:11:u2", plugins.LoadedPlugin{Name: "hello", Version: "1.0.1", Runtime: "native", Status: "loaded", TaskTypes: []string{"hello:greet"}, LoadedAt: loadedAt.Add(time.Minute)})
	openWorker(t, addr, "host-c:12:u3") // loads nothing

	code, out, errOut = runPlugins(t, addr, "disable", "hello")
	expect(t, "disable", code, out, errOut, 0, "plugin hello disabled (was enabled)\n", "")
	testutil.Poll(t, 2*time.Second, "worker 1 to see hello disabled", func() bool { return !w1.Enabled("hello") })
	code, out, errOut = runPlugins(t, addr, "disable", "hello")
	expect(t, "disable again", code, out, errOut, 0, "plugin hello disabled (was disabled)\n", "")

	code, out, errOut = runPlugins(t, addr, "config", "hello", `greeting="Hi"`, "n=3", `tags=["a", "b"]`)
	expect(t, "config set", code, out, errOut, 0, "greeting=\"Hi\"\nn=3\ntags=[\"a\",\"b\"]\n", "")
	testutil.Poll(t, 2*time.Second, "worker 1 to see the greeting", func() bool { return w1.Config("hello")["greeting"] == "Hi" })
	code, out, errOut = runPlugins(t, addr, "config", "hello", "--unset", "n")
	expect(t, "config unset", code, out, errOut, 0, "greeting=\"Hi\"\ntags=[\"a\",\"b\"]\n", "")
	code, out, errOut = runPlugins(t, addr, "config", "hello")
	expect(t, "config show", code, out, errOut, 0, "greeting=\"Hi\"\ntags=[\"a\",\"b\"]\n", "")

	code, out, errOut = runPlugins(t, addr, "list")
	expect(t, "list", code, out, errOut, 0, ""+
		"PLUGIN  STATE     OVERRIDES  WORKER        VERSION  RUNTIME  STATUS  ERROR\n"+
		"hello   disabled  2          host-a:10:u1  1.0.0    native   loaded\n"+
		"hello   disabled  2          host-b:11:u2  1.0.1    native   loaded\n"+
		"resize  enabled   0          host-a:10:u1  2.0.0    process  failed  plugins: resize: entry bin/resize: not found\n"+
		"2 plugins, 3 workers reporting\n", "")

	code, out, errOut = runPlugins(t, addr, "show", "hello")
	updated := out[strings.Index(out, "changed ")+len("changed ") : strings.Index(out, "changed ")+len("changed 2006-01-02T15:04:05Z")]
	if _, err := time.Parse(time.RFC3339, updated); err != nil {
		t.Fatalf("show: no change time in\n%s", out)
	}
	expect(t, "show", code, out, errOut, 0, ""+
		"plugin     hello\n"+
		"state      disabled, changed "+updated+"\n"+
		"overrides  greeting=\"Hi\"\n"+
		"           tags=[\"a\",\"b\"]\n"+
		"workers    2\n"+
		"\n"+
		"WORKER        VERSION  RUNTIME  STATUS  LOADED AT             TASK TYPES   ERROR\n"+
		"host-a:10:u1  1.0.0    native   loaded  2025-01-02T03:04:05Z  hello:greet\n"+
		"host-b:11:u2  1.0.1    native   loaded  2025-01-02T03:05:05Z  hello:greet\n", "")

	code, out, errOut = runPlugins(t, addr, "show", "resize", "--json")
	var view struct {
		Name     string `json:"name"`
		Enabled  bool   `json:"enabled"`
		HasState bool   `json:"has_state"`
		Workers  []struct {
			Worker string `json:"worker"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"workers"`
	}
	if code != 0 || errOut != "" || json.Unmarshal([]byte(out), &view) != nil {
		t.Fatalf("show --json: exit %d, %s, %s", code, out, errOut)
	}
	if view.Name != "resize" || !view.Enabled || view.HasState || len(view.Workers) != 1 || view.Workers[0].Status != "failed" ||
		view.Workers[0].Error != "plugins: resize:\n  entry bin/resize: not found" {
		t.Fatalf("show --json = %+v", view)
	}

	code, out, errOut = runPlugins(t, addr, "enable", "hello")
	expect(t, "enable", code, out, errOut, 0, "plugin hello enabled (was disabled)\n", "")
	testutil.Poll(t, 2*time.Second, "worker 1 to see hello enabled", func() bool { return w1.Enabled("hello") })

	// Unknown plugins are refused unless --force says they are coming.
	code, out, errOut = runPlugins(t, addr, "disable", "upcoming")
	expect(t, "disable unknown", code, out, errOut, 2, "",
		"worker plugins: unknown plugin \"upcoming\": no worker reports it and it has no fleet state (known: hello, resize); pass --force to act on a plugin not deployed yet\n")
	code, out, errOut = runPlugins(t, addr, "show", "upcoming")
	expect(t, "show unknown", code, out, errOut, 2, "",
		"worker plugins: unknown plugin \"upcoming\": no worker reports it and it has no fleet state (known: hello, resize)\n")
	code, out, errOut = runPlugins(t, addr, "disable", "upcoming", "--force")
	expect(t, "disable --force", code, out, errOut, 0, "plugin upcoming disabled (was enabled)\n", "")
	code, out, errOut = runPlugins(t, addr, "show", "upcoming")
	if code != 0 || !strings.Contains(out, "overrides  none\nworkers    none reports it\n") {
		t.Fatalf("show upcoming: exit %d\n%s%s", code, out, errOut)
	}
}

func TestPluginsCommandUsage(t *testing.T) {
	t.Parallel()
	const hint = "\nRun 'worker plugins --help' for usage.\n"
	cases := []struct {
		args    []string
		wantErr string
	}{
		{nil, "worker plugins: missing subcommand; expected list, show, enable, disable, config, publish or rollback"},
		{[]string{"start"}, `worker plugins: unknown subcommand "start"; expected list, show, enable, disable, config, publish or rollback`},
		{[]string{"list", "x"}, `worker plugins: list: unexpected argument "x"; list takes no arguments`},
		{[]string{"show"}, "worker plugins: show: missing the plugin NAME"},
		{[]string{"enable", "a", "b"}, `worker plugins: enable: unexpected argument "b"; enable takes one NAME`},
		{[]string{"disable", "Bad/Name"}, `worker plugins: disable: invalid plugin name: "Bad/Name" contains 'B'; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{[]string{"enable", "a", "--json"}, "worker plugins: enable: --json applies to list and show only"},
		{[]string{"list", "--force"}, "worker plugins: list: --force applies to enable, disable and config only"},
		{[]string{"show", "a", "--unset", "k"}, "worker plugins: show: --unset applies to config only"},
		{[]string{"config", "a", "greeting=hi"}, `worker plugins: config: greeting=hi: the value is not JSON (invalid character 'h' looking for beginning of value); quote a string in JSON: greeting='"hi"'`},
		{[]string{"config", "a", "greeting"}, `worker plugins: config: "greeting" is not KEY=VALUE; write for example greeting='"hi"' or retries=3`},
		{[]string{"config", "a", "n=1", "n=2"}, "worker plugins: config: n is given twice"},
		{[]string{"config", "a", "n=1", "--unset", "n"}, "worker plugins: config: n is both set and unset"},
		{[]string{"config", "a", "=1"}, "worker plugins: config: =1: invalid configuration key: the key is empty"},
		{[]string{"list", "--bogus"}, "worker plugins: unknown flag: --bogus"},
		{[]string{"publish"}, "worker plugins: publish: want one plugin DIR"},
		{[]string{"rollback"}, "worker plugins: rollback: missing the plugin NAME"},
		{[]string{"list", "--sign-key", "k"}, "worker plugins: list: --sign-key applies to publish only"},
		{[]string{"publish", "/nonexistent"}, "worker plugins: publish: open /nonexistent/plugin.yaml: no such file or directory"},
	}
	for _, c := range cases {
		// No Redis: usage errors are found before connecting.
		code, out, errOut := runPlugins(t, "", c.args...)
		expect(t, strings.Join(c.args, " "), code, out, errOut, 2, "", c.wantErr+hint)
	}
	code, out, errOut := runPlugins(t, "", "--help")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage:\n  worker plugins list [--json]") || !strings.Contains(out, "--redis-addr") {
		t.Fatalf("--help: exit %d\n%s%s", code, out, errOut)
	}
}

func TestPluginsCommandRedisDown(t *testing.T) {
	t.Parallel()
	addr := redistest.UnreachableAddr(t)
	for _, args := range [][]string{{"config", "hello", "n=1"}} {
		code, out, errOut := runPlugins(t, addr, args...)
		expect(t, strings.Join(args, " "), code, out, errOut, 1, "",
			"worker plugins: cannot reach Redis at "+addr+": dial tcp "+addr+": connect: connection refused\n")
	}
}
