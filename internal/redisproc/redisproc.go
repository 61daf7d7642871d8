// Package redisproc starts and stops redis-server processes on free loopback
// ports. Tests reach it through internal/redistest; the demo and the benchmark
// driver use it directly to bring up a throwaway Redis.
package redisproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned when no redis-server binary is on PATH.
var ErrNotInstalled = errors.New("redis-server not found in PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)")

// Options configures a server.
type Options struct {
	// Dir holds the server's data and log files. Required.
	Dir string
	// AppendOnly turns AOF persistence on with the given appendfsync policy
	// ("always", "everysec"); empty keeps persistence off.
	AppendOnly string
	// Args are extra redis-server arguments, e.g. {"--maxmemory", "64mb"}.
	Args []string
	// ConfigFile, when set, is passed to redis-server as its configuration
	// file (before every other argument). Sentinels need one they can
	// rewrite.
	ConfigFile string
}

// Server is one running (or stopped) redis-server process.
type Server struct {
	opts Options
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches redis-server on a free loopback port and waits until it
// answers PING. It retries with another port when the chosen one was taken
// between probing and binding.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNotInstalled
	}
	if opts.Dir == "" {
		return nil, errors.New("redisproc: Options.Dir is empty; pass a directory for data and logs")
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{opts: opts, port: port}
		if err := s.launch(ctx); err != nil {
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("redisproc: could not start redis-server after 5 attempts: %w", lastErr)
}

// Addr returns host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port of the server.
func (s *Server) Port() int { return s.port }

// Pid returns the process id of the running server, or 0 when it is
// stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// LogFile returns the path of the server's log file.
func (s *Server) LogFile() string { return filepath.Join(s.opts.Dir, "redis.log") }

func (s *Server) args() []string {
	var args []string
	if s.opts.ConfigFile != "" {
		args = append(args, s.opts.ConfigFile)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.opts.Dir,
		"--logfile", s.LogFile(),
		"--save", "",
		"--protected-mode", "yes",
	)
	if s.opts.AppendOnly != "" {
		args = append(args, "--appendonly", "yes", "--appendfsync", s.opts.AppendOnly)
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, s.opts.Args...)
}

func (s *Server) launch(ctx context.Context) error {
	cmd := exec.Command("redis-server", s.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redisproc: start redis-server: %w", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		// Reap the process whenever it ends; Stop and Kill poll /proc.
		waitErr = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ping(ctx, s.Addr()) != nil {
		select {
		case <-exited:
			return fmt.Errorf("redisproc: redis-server on port %d exited: %w (log: %s)", s.port, waitErr, tail(s.LogFile()))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redisproc: redis-server on port %d did not answer PING within 10s", s.port)
		}
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	return nil
}

// Stop terminates the server (SIGTERM, then SIGKILL after 5 s) and waits for
// it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop() error { return s.signalAndWait(syscall.SIGTERM) }

// Kill terminates the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() error { return s.signalAndWait(syscall.SIGKILL) }

// addrs returns host:port of each server, in order.
func addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr()
	}
	return out
}

// stopAll stops each server in order and returns their errors joined.
func stopAll(servers []*Server) error {
	errs := make([]error, 0, len(servers))
	for _, s := range servers {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// Freeze stops the process with SIGSTOP; Thaw resumes it.
func (s *Server) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

// Restart starts the server again on the same port and data directory after
// Stop or Kill.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return errors.New("redisproc: Restart of a running server; call Stop or Kill first")
	}
	return s.launch(ctx)
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	return s.cmd.Process.Signal(sig)
}

func (s *Server) signalAndWait(sig syscall.Signal) error {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen server cannot act on SIGTERM
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redisproc: signal redis-server: %w", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// processAlive reports whether pid still exists and is not a zombie. The
// reaper goroutine started by launch collects the exit status.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state is the field after the parenthesised command name.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redisproc: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends an inline PING and expects +PONG, without a Redis client so the
// package stays dependency-free.
func ping(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 500 {
		b = b[len(b)-500:]
	}
	return strings.TrimSpace(string(b))
}
