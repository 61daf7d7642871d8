package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

// runMainEnv makes the test binary run the program's main instead of the
// tests, so TestQuickstartRuns runs the real program as a process without a
// separate go build.
const runMainEnv = "QUICKSTART_TEST_RUN_MAIN" // not TUSKQ_: config.Load refuses unknown TUSKQ_ variables

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// waitFor bounds every wait of the tests.
const waitFor = 30 * time.Second

// readmeGoBlock returns the first ```go block of the README at path.
func readmeGoBlock(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	_, after, ok := strings.Cut(readme, "\n```go\n")
	if !ok {
		t.Fatalf("%s has no ```go block: the quick start program belongs at its top", path)
	}
	block, _, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatalf("%s: the first ```go block is not closed", path)
	}
	return block + "\n"
}

// TestREADMEShowsThisProgram keeps the README's quick start identical to
// this program, which the build and TestQuickstartRuns keep working.
func TestREADMEShowsThisProgram(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	got := readmeGoBlock(t, "../../README.md")
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Fatalf("README.md's first ```go block differs from examples/quickstart/main.go at line %d:\n README: %q\nmain.go: %q\n"+
				"copy examples/quickstart/main.go into the README's block", i+1, g, w)
		}
	}
}

// TestQuickstartRuns runs the program against a throwaway Redis: it must
// enqueue its task, process it once with the trace it printed, and exit
// cleanly on SIGINT.
func TestQuickstartRuns(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)

	var stdout, stderr testutil.LogBuffer
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(environWithoutTuskq(),
		runMainEnv+"=1",
		"TUSKQ_REDIS_ADDR="+srv.Addr(),
		"TUSKQ_WORKER_LISTEN=127.0.0.1:0", // the default port may be taken by another worker
	)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error // cmd.Wait's result, set before exited is closed
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the program's stdout:\n%s\nits stderr:\n%s", stdout.String(), stderr.String())
		}
	})

	enqueued := regexp.MustCompile(`^enqueued (\S+) to queue default, trace ([0-9a-f]{32})\n$`)
	var m []string
	testutil.Poll(t, waitFor, "the task to be processed", func() bool {
		select {
		case <-exited:
			t.Fatalf("the program exited early: %v", waitErr)
		default:
		}
		m = enqueued.FindStringSubmatch(stdout.String())
		return m != nil && len(stderr.Records(t, "task done")) > 0
	})
	id, traceID := m[1], m[2]

	sent := stderr.Records(t, "sending email")
	if len(sent) != 1 {
		t.Fatalf("got %d \"sending email\" lines, want 1", len(sent))
	}
	for key, want := range map[string]string{
		"to": "ada@example.com", "task_id": id, "task_type": "email:send", "queue": "default", "trace_id": traceID,
	} {
		if got := fmt.Sprint(sent[0][key]); got != want {
			t.Fatalf("the processor's line has %s=%q, want %q", key, got, want)
		}
	}
	if d := stderr.Records(t, "task done")[0]; d["task_id"] != id || d["outcome"] != "success" {
		t.Fatalf("task done line: %v, want task_id %s and outcome success", d, id)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the program did not exit cleanly on SIGINT: %v", waitErr)
		}
	case <-time.After(waitFor):
		t.Fatalf("the program did not exit within %s of SIGINT", waitFor)
	}

	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr()})
	defer insp.Close()
	q, err := insp.GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if q.Size != 0 || q.Processed != 1 || q.Failed != 0 {
		t.Fatalf("queue default: %d tasks left, %d processed, %d failed; want 0, 1, 0", q.Size, q.Processed, q.Failed)
	}
}

// environWithoutTuskq is the test's environment without TUSKQ_* variables,
// so a developer's own settings cannot point the program elsewhere.
func environWithoutTuskq() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUSKQ_") {
			env = append(env, kv)
		}
	}
	return env
}
