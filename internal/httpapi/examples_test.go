package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// exampleOutput is what examples/api/enqueue.py and enqueue.mjs print,
// with task IDs and trace IDs replaced.
const exampleOutput = `enqueued email:send ID in default (pending), trace TRACE
retried with the same key: still ID
state pending, retried 0 of 5
batch: 2 enqueued, 1 failed
  task 0: ID (pending)
  task 1: 400 tasks[1].delay: "soon" is not a duration; use Go syntax such as 30s or 1h30m
  task 2: ID (scheduled)
deleted ID (was scheduled)
refused: 400 The request is not valid: queue: unknown queue "no-such-queue"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)
  queue: unknown queue "no-such-queue"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)
`

var (
	idPattern    = regexp.MustCompile(`idem-[0-9a-f]{32}(-\d+)?|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	tracePattern = regexp.MustCompile(`trace [0-9a-f]{32}`)
)

// runExample runs an example program against a live API with a token and
// returns its standard output with IDs replaced. It skips the test when
// the interpreter is not installed.
func runExample(t *testing.T, interpreter string, args ...string) (string, *apiEnv) {
	t.Helper()
	path, err := exec.LookPath(interpreter)
	if err != nil {
		// CI (.ci/run) installs every interpreter and sets
		// TUSKQTEST_REQUIRE_EXAMPLES, so that no example is skipped there.
		if os.Getenv("TUSKQTEST_REQUIRE_EXAMPLES") != "" {
			t.Fatalf("%s is not installed, and TUSKQTEST_REQUIRE_EXAMPLES is set: install it (Debian: apt-get install nodejs python3)", interpreter)
		}
		t.Skipf("%s is not installed", interpreter)
	}
	e := newEnv(t, envOptions{configure: withTokens})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "TUSKQ_API_URL="+e.url, "TUSKQ_API_TOKEN="+tokenAll)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", interpreter, args, err, out, stderr.String())
	}
	s := idPattern.ReplaceAllString(string(out), "ID")
	return tracePattern.ReplaceAllString(s, "trace TRACE"), e
}

// TestPythonExample runs examples/api/enqueue.py (standard library only)
// against a live server.
func TestPythonExample(t *testing.T) {
	t.Parallel()
	out, e := runExample(t, "python3", "-S", "../../examples/api/enqueue.py")
	if out != exampleOutput {
		t.Errorf("output:\n%s\nwant:\n%s", out, exampleOutput)
	}
	// The first task (once, despite the retry), one of the batch; the
	// deleted task is gone.
	if n := e.pending(t, "default"); n != 3 {
		t.Errorf("%d tasks in default, want 3", n)
	}
}

// TestNodeExample runs examples/api/enqueue.mjs (built-in fetch) against a
// live server.
func TestNodeExample(t *testing.T) {
	t.Parallel()
	out, _ := runExample(t, "node", "../../examples/api/enqueue.mjs")
	if out != exampleOutput {
		t.Errorf("output:\n%s\nwant:\n%s", out, exampleOutput)
	}
}

// TestCurlExample runs examples/api/curl.sh against a live server.
func TestCurlExample(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	out, _ := runExample(t, "sh", "../../examples/api/curl.sh")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`{"id":"ID","type":"email:send","queue":"default","state":"pending","trace_id":"`,
		`task ID`,
		`{"id":"ID","type":"email:send","queue":"default","state":"pending","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`,
		`{"id":"ID","type":"email:send","queue":"default","state":"pending","trace_id":"`,
		`{"enqueued":1,"failed":1,"results":[{"index":0,"status":201,`,
		`{"id":"ID","type":"report:build","queue":"default","outcome":"deleted","state":"scheduled"}`,
		`{"type":"https://github.com/tuskq/tuskq/blob/main/docs/api.md#invalid-request","title":"The request is not valid","status":400,`,
	}
	if len(lines) != len(want)+1 || lines[len(lines)-1] != "400" {
		t.Fatalf("output:\n%s", out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n%s\nwant prefix\n%s", i+1, lines[i], w)
		}
	}
}

// TestDocsHoldExamples keeps docs/api.md showing the tested examples in
// full.
func TestDocsHoldExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"curl.sh", "enqueue.py", "enqueue.mjs"} {
		src, err := os.ReadFile("../../examples/api/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), string(src)) {
			t.Errorf("docs/api.md does not hold examples/api/%s verbatim", f)
		}
	}
}
