package enqueuecli_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runBinary runs the cmd/enqueue binary built by TestMain with the given
// environment (nothing else of the test's environment) and stdin.
func runBinary(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", binary, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// TestBinary drives the real binary to prove main.go's wiring: arguments,
// environment, standard streams and exit codes.
func TestBinary(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)

	// The address comes from the environment; the payload from stdin.
	r := runBinary(t, []string{"TUSKQ_REDIS_ADDR=" + addr}, `{"from":"stdin"}`, "--queue", "low", "bin:test", "-")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("enqueue: exit %d, stderr %q", r.code, r.stderr)
	}
	tl := one(t, r.stdout)
	if info := taskInfo(t, insp, "low", tl.ID); string(info.Payload) != `{"from":"stdin"}` || info.Type != "bin:test" {
		t.Errorf("stored %s %q", info.Type, info.Payload)
	}

	r = runBinary(t, nil, "{\"type\":\"bin:batch\"}\n{\"type\":1}\n", "--redis-addr", addr, "--batch")
	wantErr := "line 2: type: expected a string, got a number\nenqueued 1 of 2 tasks; 1 not enqueued (bad input: line 2)\n"
	if r.code != 2 || r.stderr != wantErr || len(lines(t, r.stdout)) != 1 {
		t.Errorf("--batch: exit %d, stderr %q, stdout %q; want 2, %q", r.code, r.stderr, r.stdout, wantErr)
	}

	r = runBinary(t, nil, "", "--redis-addr", addr, "--delay")
	if r.code != 2 || r.stderr != "enqueue: flag needs an argument: --delay\n"+hint {
		t.Errorf("usage error: exit %d, stderr %q", r.code, r.stderr)
	}

	// Unreachable Redis: exit 1 and exactly one line naming the address
	// (go-redis's own dial-failure logging is off).
	down := newStoppedRedis(t)
	r = runBinary(t, nil, "", "--redis-addr", down, "bin:test")
	want := "enqueue: cannot reach Redis at " + down + ": dial tcp " + down + ": connect: connection refused\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("unreachable: exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
}
