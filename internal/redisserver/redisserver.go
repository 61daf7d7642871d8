// Package redisserver starts and stops redis-server processes on free loopback
// ports. Tests reach it through internal/redistest; the demo and the benchmark
// driver use it directly to bring up a throwaway Redis.
package redisserver

import (
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

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
}

// Start launches redis-server on a free loopback port and waits until it
// answers as the started process (its process_id in INFO). It retries with
// another port when the chosen one was taken between probing and binding.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNotInstalled
	}
	if opts.Dir == "" {
		return nil, errors.New("redisserver: Options.Dir is empty; pass a directory for data and logs")
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
	return nil, fmt.Errorf("redisserver: could not start redis-server after 5 attempts: %w", lastErr)
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

// errPortTaken marks a launch that failed because another process holds
// the port.
var errPortTaken = errors.New("the port is taken by another process")

// launch starts redis-server on s.port and waits until the server on that
// port reports the child's pid as its process_id (INFO server): a PONG
// from another process that took the port in the meantime does not count.
// An error wraps errPortTaken when the port belongs to another process.
func (s *Server) launch(ctx context.Context) error {
	cmd := exec.Command("redis-server", s.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redisserver: start redis-server: %w", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		// Reap the process whenever it ends; Stop and Kill poll /proc.
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(startBound)
	foreign := 0 // the pid of another server seen on the port, if any
	for {
		pid, err := serverPID(ctx, s.Addr())
		if err == nil && pid == cmd.Process.Pid {
			break
		}
		if err == nil {
			foreign = pid
		}
		select {
		case <-exited:
			log := tail(s.LogFile())
			if foreign != 0 || strings.Contains(log, "Address already in use") {
				return fmt.Errorf("redisserver: redis-server on port %d exited: %w (pid %d answers there; log: %s)", s.port, errPortTaken, foreign, log)
			}
			return fmt.Errorf("redisserver: redis-server on port %d exited: %w (log: %s)", s.port, waitErr, log)
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			if foreign != 0 {
				return fmt.Errorf("redisserver: port %d: %w (pid %d answers there, not the started pid %d)", s.port, errPortTaken, foreign, cmd.Process.Pid)
			}
			return fmt.Errorf("redisserver: redis-server on port %d did not answer within %s", s.port, startBound)
		}
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// startBound bounds how long launch waits for a server to answer; generous
// for a loaded machine.
const startBound = 30 * time.Second

// serverPID returns the process_id that the server at addr reports in
// INFO server.
func serverPID(ctx context.Context, addr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	text, err := info(ctx, addr, "server")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(infoField(text, "process_id"))
	if err != nil {
		return 0, fmt.Errorf("redisserver: %s: INFO server has no process_id: %w", addr, err)
	}
	return pid, nil
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
		return errors.New("redisserver: Restart of a running server; call Stop or Kill first")
	}
	// Another process (a parallel test's server, a client's ephemeral
	// port) may hold the port for a while: retry until it is free again.
	bound, cancel := context.WithTimeout(ctx, restartBound)
	defer cancel()
	for {
		err := s.launch(bound)
		if err == nil || !errors.Is(err, errPortTaken) {
			return err
		}
		select {
		case <-bound.Done():
			return fmt.Errorf("redisserver: restart on port %d gave up after %s: %w", s.port, restartBound, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restartBound bounds how long Restart retries while another process holds
// the server's port.
const restartBound = 60 * time.Second

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
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen server cannot act on SIGTERM
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redisserver: signal redis-server: %w", err)
	}
	// Wait until the process is reaped, not until its main thread is a
	// zombie: the other threads may still hold the listening socket, and a
	// Restart on the same port would find it in use.
	for {
		select {
		case <-exited:
			return nil
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redisserver: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
