package enqueuecli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/enqueuecli"
)

// TestEnqueueTimeout runs the command with an enqueue.timeout too short
// for any enqueue (TUSKQ_ENQUEUE_TIMEOUT=1ns): the single task and each
// batch line fail with the timeout's line, which says the task was not
// stored, and the command exits non-zero, having stored nothing.
func TestEnqueueTimeout(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	runEnv := func(stdin string, args ...string) result {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		code := enqueuecli.Run(ctx, args, enqueuecli.Env{
			Stdin:   strings.NewReader(stdin),
			Stdout:  &stdout,
			Stderr:  &stderr,
			Environ: []string{"TUSKQ_ENQUEUE_TIMEOUT=1ns"},
		})
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
	r := runEnv("", "--redis-addr", addr, "--id", "t-1", "email:send", `{"to":"a@example.com"}`)
	want := "enqueue: not enqueued: Redis at " + addr + `: tasks: enqueue "email:send" as task t-1: no reply from Redis within 1ns: ` +
		"the task was not stored; enqueueing again with the same task ID cannot duplicate it (the deadline is enqueue.timeout)\n"
	if r.code != enqueuecli.ExitFailure || r.stdout != "" || r.stderr != want {
		t.Errorf("single: exit %d, stdout %q, stderr\n%q\nwant\n%q", r.code, r.stdout, r.stderr, want)
	}
	r = runEnv(`{"type":"email:send","id":"b-1"}`+"\n", "--redis-addr", addr, "--batch")
	want = "line 1: not enqueued: Redis at " + addr + `: tasks: enqueue "email:send" as task b-1: no reply from Redis within 1ns: ` +
		"the task was not stored; enqueueing again with the same task ID cannot duplicate it (the deadline is enqueue.timeout)\n" +
		"enqueued 0 of 1 tasks; 1 not enqueued (failed: line 1)\n"
	if r.code != enqueuecli.ExitFailure || r.stdout != "" || r.stderr != want {
		t.Errorf("batch: exit %d, stdout %q, stderr\n%q\nwant\n%q", r.code, r.stdout, r.stderr, want)
	}
	if queues, err := insp.Queues(); err != nil || len(queues) != 0 {
		t.Fatalf("queues %v, %v; want none: nothing was stored", queues, err)
	}
}
