package redisserver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(context.WithoutCancel(t.Context()), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// A server whose port is answered by another redis-server is not taken for
// the one that was started.
func TestLaunchRefusesAnotherServersPong(t *testing.T) {
	t.Parallel()
	other := start(t)
	s := &Server{opts: Options{Dir: t.TempDir()}, port: other.Port()}
	err := s.launch(t.Context())
	if !errors.Is(err, errPortTaken) {
		_ = s.Stop()
		t.Fatalf("launch on a port another redis-server answers = %v; want errPortTaken", err)
	}
	if s.Pid() != 0 {
		t.Errorf("Pid = %d after a failed launch; want 0", s.Pid())
	}
	if pid, err := serverPID(t.Context(), other.Addr()); err != nil || pid != other.Pid() {
		t.Errorf("the other server: pid %d, %v; want %d", pid, err, other.Pid())
	}
}

// Restart waits while another process holds the port, then starts on it.
func TestRestartRetriesWhilePortIsTaken(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Fatalf("hold the port: %v", err)
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(500 * time.Millisecond) // the collision lasts a while
		_ = l.Close()
	}()
	if err := s.Restart(t.Context()); err != nil {
		t.Fatalf("Restart after the port was freed: %v", err)
	}
	<-released
	if pid, err := serverPID(t.Context(), s.Addr()); err != nil || pid != s.Pid() {
		t.Errorf("restarted server: pid %d, %v; want %d", pid, err, s.Pid())
	}
	if got := strconv.Itoa(s.Port()); got == "0" {
		t.Errorf("port %s", got)
	}
}
