package redistest

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// UnreachableAddr returns a loopback host:port where nothing listens and
// nothing can start listening while the test runs: a TCP socket is bound to
// it (without SO_REUSEADDR) but never listens, and is closed when the test
// ends. A connection to it is refused ("connect: connection refused"),
// whatever other tests start in parallel. Use it for "Redis unreachable"
// instead of the port of a stopped server, which another test's server or
// client may take.
func UnreachableAddr(tb testing.TB) string {
	tb.Helper()
	fd, port, err := holdPort(0, false)
	if err != nil {
		tb.Fatalf("redistest: hold an unreachable port: %v", err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// holdPort binds a TCP socket to 127.0.0.1:port (0 for any) without
// listening and returns it with its port. With reusePort the socket shares
// the port with other SO_REUSEPORT sockets of this user (a Gate's
// listener); sockets without SO_REUSEPORT, such as redis-server's and
// net.Listen's, cannot bind it either way.
func holdPort(port int, reusePort bool) (fd, bound int, err error) {
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1, 0, err
	}
	syscall.CloseOnExec(fd)
	if reusePort {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			_ = syscall.Close(fd)
			return -1, 0, err
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		return -1, 0, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return -1, 0, err
	}
	return fd, sa.(*syscall.SockaddrInet4).Port, nil
}

// reusePortControl makes a listener share its port with the hold socket
// of its Gate: SO_REUSEPORT on, SO_REUSEADDR off (so that no socket
// without SO_REUSEPORT can bind the port while the Gate holds it).
func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = errors.Join(
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1),
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0))
	}); err != nil {
		return err
	}
	return serr
}
