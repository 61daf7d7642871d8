package enqueuecli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

const hint = "run 'enqueue --help' for usage\n"

// TestBadInput checks the exact message and exit code 2 of every kind of
// bad command line. Each is rejected before Redis is contacted (the
// address given is closed).
func TestBadInput(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope", "x:y"},
			"enqueue: unknown flag: --nope\n" + hint},
		{"flag without value", []string{"x:y", "--queue"},
			"enqueue: flag needs an argument: --queue\n" + hint},
		{"missing type", nil,
			"enqueue: missing task type: enqueue TYPE [PAYLOAD | @FILE | -]\n" + hint},
		{"invalid type", []string{"email send"},
			"enqueue: TYPE: \"email send\" contains ' '; use letters, digits and punctuation other than '*'\n" + hint},
		{"type with star", []string{"email:*"},
			"enqueue: TYPE: \"email:*\" contains '*'; use letters, digits and punctuation other than '*'\n" + hint},
		{"too many arguments", []string{"x:y", "a", "b"},
			"enqueue: too many arguments (3): want TYPE and at most one PAYLOAD; quote a payload that has spaces\n" + hint},
		{"bad delay", []string{"--delay", "soon", "x:y"},
			"enqueue: --delay: \"soon\" is not a duration; use Go syntax such as 30s or 1h30m\n" + hint},
		{"negative delay", []string{"--delay=-5s", "x:y"},
			"enqueue: --delay: -5s is negative; expected a delay from 0s to 8760h0m0s (1 year)\n" + hint},
		{"bad at", []string{"--at", "tomorrow", "x:y"},
			"enqueue: --at: \"tomorrow\" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00\n" + hint},
		{"delay and at", []string{"--delay", "1m", "--at", "2030-01-01T00:00:00Z", "x:y"},
			"enqueue: --delay and --at cannot be used together; pick one\n" + hint},
		{"bad max retry", []string{"--max-retry", "-1", "x:y"},
			"enqueue: --max-retry: -1 is negative; expected a whole number from 0 to 2147483647\n" + hint},
		{"bad timeout", []string{"--timeout", "1500ms", "x:y"},
			"enqueue: --timeout: 1.5s is not a whole number of seconds (asynq stores seconds; 2s is); expected a whole number of seconds from 1s to 24h0m0s (24h)\n" + hint},
		{"zero timeout", []string{"--timeout", "0s", "x:y"},
			"enqueue: --timeout: 0s is less than 1s; expected a whole number of seconds from 1s to 24h0m0s (24h)\n" + hint},
		{"bad deadline", []string{"--deadline", "2030-01-01", "x:y"},
			"enqueue: --deadline: \"2030-01-01\" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00\n" + hint},
		{"bad unique", []string{"--unique", "forever", "x:y"},
			"enqueue: --unique: \"forever\" is not a duration; use Go syntax such as 30s or 1h30m\n" + hint},
		{"bad retention", []string{"--retention", "500ms", "x:y"},
			"enqueue: --retention: 500ms is less than 1s; expected a whole number of seconds from 1s to 720h0m0s (30 days)\n" + hint},
		{"empty queue", []string{"--queue", " ", "x:y"},
			"enqueue: --queue: the queue name is blank; name a queue such as default, or leave it out to use the route's\n" + hint},
		{"empty id", []string{"--id", "", "x:y"},
			"enqueue: --id: the task ID is empty; leave it out to get a generated one\n" + hint},
		{"header without value", []string{"--header", "tenant", "x:y"},
			"enqueue: --header: \"tenant\" is not key=value\n" + hint},
		{"trace header", []string{"--header", "traceparent=x", "x:y"},
			"enqueue: --header traceparent: is set from the trace context; use the traceparent field instead of a header\n" + hint},
		{"bad traceparent", []string{"--traceparent", "00-abc-def-01", "x:y"},
			"enqueue: --traceparent: \"00-abc-def-01\" is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>\n" + hint},
		{"zero trace id", []string{"--traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "x:y"},
			"enqueue: --traceparent: \"00-00000000000000000000000000000000-00f067aa0ba902b7-01\" is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>\n" + hint},
		{"bad wait", []string{"--wait=later", "x:y"},
			"enqueue: --wait: \"later\" is not a duration; use Go syntax such as 30s or 1h30m\n" + hint},
		{"missing payload file", []string{"x:y", "@" + missing},
			"enqueue: payload file: open " + missing + ": no such file or directory\n"},
		{"payload file without name", []string{"x:y", "@"},
			"enqueue: payload: \"@\" names no file; write @PATH\n"},
		{"batch with arguments", []string{"--batch", "x:y"},
			"enqueue: --batch reads tasks from standard input and takes no arguments (got \"x:y\")\n" + hint},
		{"batch with wait", []string{"--batch", "--wait"},
			"enqueue: --wait cannot be used with --batch; enqueue one task to wait for it\n" + hint},
		{"batch with id", []string{"--batch", "--id", "a"},
			"enqueue: --id cannot be used with --batch; set \"id\" on each line\n" + hint},
		{"batch parallelism", []string{"--batch", "--parallelism", "0"},
			"enqueue: --parallelism: 0 is less than 1\n" + hint},
		{"parallelism without batch", []string{"--parallelism", "4", "x:y"},
			"enqueue: --parallelism applies only with --batch\n" + hint},
		{"config after flags", []string{"--queue", "low", "config", "print"},
			"enqueue: \"config\" must come first: enqueue config print [flags]; to enqueue a task of type \"config\" write enqueue [flags] -- config\n" + hint},
		{"bad config key", []string{"--set", "redis.adr=x", "x:y"},
			"enqueue: config: --set: unknown key \"redis.adr\" (did you mean \"redis.addr\"?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--redis-addr", "127.0.0.1:1"}, tt.args...)
			r := run(t, "", args...)
			if r.code != 2 || r.stderr != tt.want || r.stdout != "" {
				t.Errorf("enqueue %q:\nexit %d, want 2\nstderr %q\nwant   %q\nstdout %q", args, r.code, r.stderr, tt.want, r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := run(t, "", "--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"enqueue [flags] TYPE [PAYLOAD | @FILE | -]", "--traceparent TRACEPARENT", "--wait TIMEOUT[=\"30s\"]", "--redis-addr host:port"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestConfigSubcommand(t *testing.T) {
	t.Parallel()
	r := run(t, "", "config", "print", "--redis-addr", "10.1.2.3:6379")
	if r.code != 0 || !strings.Contains(r.stdout, "addr: 10.1.2.3:6379") {
		t.Fatalf("config print: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "", "config", "validate")
	if r.code != 2 {
		t.Fatalf("config validate without a file: exit %d, want 2", r.code)
	}
}
