package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redistest"
)

// binary is the monitor built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "monitor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "monitor")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// command returns the monitor binary with args and a clean environment
// (no TUSKQ_* of the developer's shell).
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := command(ctx, "--listen", "127.0.0.1:0", "--redis-addr", srv.Addr(), "--root-path", "/monitor/")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// The first line says where the UI is.
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() {
		t.Fatalf("no stderr line: %v", lines.Err())
	}
	first := lines.Text()
	url, ok := strings.CutPrefix(first, "monitor: serving ")
	url, rest, ok2 := strings.Cut(url, " ")
	if !ok || !ok2 || rest != "(Redis "+srv.Addr()+")" ||
		!strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/monitor/") {
		t.Fatalf("first stderr line %q", first)
	}
	var tail strings.Builder
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for lines.Scan() {
			tail.WriteString(lines.Text() + "\n")
		}
	}()

	base := strings.TrimSuffix(url, "/monitor/")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/monitor/": 200, "/monitor/api/queues": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-drained
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, tail.String())
	}
	for _, want := range []string{
		`"msg":"monitor shutting down","reason":"terminated signal received"`,
		`"msg":"monitor stopped"`,
	} {
		if !strings.Contains(tail.String(), want) {
			t.Errorf("stderr lacks %s:\n%s", want, tail.String())
		}
	}
}

func TestBinaryRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := command(ctx, "--listen", "0.0.0.0:8080")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
	const want = "monitor: refusing to listen on 0.0.0.0:8080 without authentication: anyone who can reach it could see and change every queue; add users (monitor.auth.users, hash passwords with 'monitor hash-password') or tokens (monitor.auth.tokens), or listen on loopback (--listen 127.0.0.1:8080)\n"
	if stderr.String() != want || stdout.String() != "" {
		t.Errorf("stderr %q, stdout %q; want %q", stderr.String(), stdout.String(), want)
	}
}
