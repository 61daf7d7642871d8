package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Gate is a TCP relay on its own loopback port in front of a server, for
// tests that take Redis away from running code and give it back: Down
// makes the Gate's address refuse connections ("connect: connection
// refused") and resets the open ones, Up serves it again on the same port.
// Unlike killing a server and restarting it on its port, no other process
// can take the port in between: a socket stays bound to it while it is
// down. The server behind it keeps running with its data.
type Gate struct {
	target string
	port   int

	mu    sync.Mutex
	ln    net.Listener // nil while down
	held  int          // the socket bound while down; -1 while up
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewGate starts a Gate in front of target (host:port), up, and closes it
// when the test ends.
func NewGate(tb testing.TB, target string) *Gate {
	tb.Helper()
	g := &Gate{target: target, held: -1, conns: map[net.Conn]struct{}{}}
	// Bind the hold socket first on a free port, then listen beside it:
	// the port never passes through a moment when it is free.
	fd, port, err := holdPort(0, true)
	if err != nil {
		tb.Fatalf("redistest: gate: %v", err)
	}
	g.port, g.held = port, fd
	if err := g.Up(); err != nil {
		_ = syscall.Close(fd)
		tb.Fatalf("redistest: gate: %v", err)
	}
	tb.Cleanup(g.close)
	return g
}

// Addr returns the Gate's host:port, the address to give the code under
// test.
func (g *Gate) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port)) }

// Up serves the Gate's port again (a no-op when up).
func (g *Gate) Up() error {
	if err := g.up(); err != nil {
		return fmt.Errorf("redistest: gate up: %w", err)
	}
	return nil
}

func (g *Gate) up() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return nil
	}
	lc := net.ListenConfig{Control: reusePortControl}
	ln, err := lc.Listen(context.Background(), "tcp", g.Addr())
	if err != nil {
		return err
	}
	g.ln = ln
	_ = syscall.Close(g.held)
	g.held = -1
	g.wg.Go(func() { g.accept(ln) })
	return nil
}

// Down makes the Gate's address refuse new connections and resets the open
// ones (a no-op when down). It returns once no connection is relayed any
// more. It may be called from any goroutine.
func (g *Gate) Down() error {
	g.mu.Lock()
	if g.ln == nil {
		g.mu.Unlock()
		return nil
	}
	fd, _, err := holdPort(g.port, true)
	if err != nil {
		g.mu.Unlock()
		return fmt.Errorf("redistest: gate down: hold port %d: %w", g.port, err)
	}
	g.held = fd
	_ = g.ln.Close()
	g.ln = nil
	for c := range g.conns {
		resetClose(c)
	}
	g.mu.Unlock()
	g.wg.Wait()
	return nil
}

func (g *Gate) close() {
	g.mu.Lock()
	if g.ln != nil {
		_ = g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		resetClose(c)
	}
	if g.held >= 0 {
		_ = syscall.Close(g.held)
		g.held = -1
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// resetClose closes c with a reset (no TIME_WAIT left on the Gate's port).
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (g *Gate) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.ln != ln { // went down meanwhile
			g.mu.Unlock()
			resetClose(c)
			return
		}
		g.conns[c] = struct{}{}
		g.wg.Go(func() { g.relay(c) })
		g.mu.Unlock()
	}
}

// relay copies between c and a new connection to the target until either
// side ends, then closes both.
func (g *Gate) relay(c net.Conn) {
	defer func() {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
		resetClose(c)
	}()
	var d net.Dialer
	up, err := d.DialContext(context.Background(), "tcp", g.target)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.conns[up] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.conns, up)
		g.mu.Unlock()
		_ = up.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	resetClose(c)
	_ = up.Close()
	<-done
}
