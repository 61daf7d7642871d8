package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// workerBin is the cmd/worker binary built once by TestMain.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tuskq-worker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "worker")
	out, err := exec.Command("go", "build", "-o", workerBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build cmd/worker: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor bounds every wait of the tests.
const waitFor = 30 * time.Second

// fast are the flags every test worker gets: an ephemeral endpoint port and
// short polling, so shutdown and pickup take milliseconds.
var fast = []string{
	"--listen", "127.0.0.1:0",
	"--set", "worker.task_check_interval=10ms",
	"--set", "worker.delayed_task_check_interval=50ms",
}

// proc is a worker process started by a test.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, set before done is closed

	mu     sync.Mutex
	stderr []string
}

// startWorker runs the worker binary against Redis at addr; the test's
// cleanup kills it if it is still running.
func startWorker(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(workerBin, append(append([]string{}, fast...), args...)...)
	cmd.Env = append(environ(), "TUSKQ_REDIS_ADDR="+addr)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// line waits for a JSON log line with message msg (and, when id is not
// empty, task_id id) and returns it decoded.
func (p *proc) line(t *testing.T, msg, id string) map[string]any {
	t.Helper()
	var found map[string]any
	poll(t, fmt.Sprintf("log line %q", msg), func() bool {
		found = p.find(msg, id)
		return found != nil
	})
	return found
}

// find returns the first log line with message msg (and task_id id), or nil.
func (p *proc) find(msg, id string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.stderr {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg && (id == "" || m["task_id"] == id) {
			return m
		}
	}
	return nil
}

// index returns the position of the first line with message msg (and
// task_id id) in stderr, or -1.
func (p *proc) index(msg, id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, l := range p.stderr {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg && (id == "" || m["task_id"] == id) {
			return i
		}
	}
	return -1
}

// addr waits for the worker to start and returns its endpoint address.
func (p *proc) addr(t *testing.T) string {
	t.Helper()
	addr, _ := p.line(t, "worker started", "")["listen"].(string)
	if addr == "" {
		t.Fatal("worker started line has no listen address")
	}
	return addr
}

// stop sends sig and waits for the process to exit; it returns the exit
// code and how long the exit took.
func (p *proc) stop(t *testing.T, sig os.Signal) (int, time.Duration) {
	t.Helper()
	begin := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	return p.exit(t), time.Since(begin)
}

// exit waits for the process to exit and returns its exit code.
func (p *proc) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitFor):
		t.Fatalf("worker did not exit within %s; stderr:\n%s", waitFor, p.output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait: %v", p.err)
	}
	return 0
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// poll calls cond until it returns true, failing the test after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newClient returns a producer for Redis at addr.
func newClient(t *testing.T, addr string) *tasks.Client {
	t.Helper()
	rc := config.Default().Redis
	rc.Addr = addr
	opt, err := redisconn.ConnOpt(rc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get fetches http://addr/path.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// run runs the worker binary to completion with the given environment
// additions and returns its exit code, stdout and stderr.
func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin, args...)
	cmd.Env = append(environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("run worker: %v", err)
	}
	return 0, stdout.String(), stderr.String()
}

// environ is the test's environment without TUSKQ_ variables, so that the
// runner's own configuration cannot leak into the workers.
func environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUSKQ_") {
			out = append(out, kv)
		}
	}
	return out
}

// startRedis starts a Redis for the test.
func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	return redistest.Start(t)
}

// signals used by the tests.
var (
	sigterm = syscall.SIGTERM
	sigtstp = syscall.SIGTSTP
)
