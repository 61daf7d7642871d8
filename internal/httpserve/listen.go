package httpserve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrInsecureListen is matched by the error CheckListen returns for a
// listen address that is not loopback while no authentication is
// configured: without authentication a server serves only this machine.
var ErrInsecureListen = errors.New("refusing a non-loopback address without authentication")

// ListenRule says how CheckListen judges a server's listen address and
// what its errors say.
type ListenRule struct {
	// Server starts the error texts: "monitor", "enqueue serve", "worker".
	Server string
	// Key is the configuration key of the address ("monitor.listen").
	Key string
	// Example is a valid loopback address for the key ("127.0.0.1:8080").
	Example string
	// Auth tells that requests must authenticate: any address is then
	// accepted.
	Auth bool
	// Risk says what anyone reaching the server could do without
	// authentication ("anyone who can reach it could enqueue and delete
	// tasks").
	Risk string
	// Fix says how to configure authentication ("add api.tokens").
	Fix string
	// Invalid is the sentinel a malformed address's error wraps (the
	// caller's ErrBadOptions).
	Invalid error
}

// InsecureListenError is the refusal of a non-loopback listen address
// without authentication. Its text is the one line to show.
type InsecureListenError struct {
	// Server names the server ("monitor").
	Server string
	// Addr is the address refused.
	Addr string
	// Suggestion is the loopback address with the same port.
	Suggestion string
	// Risk and Fix are those of the ListenRule.
	Risk, Fix string
}

// Error returns the refusal, the risk and both fixes on one line.
func (e *InsecureListenError) Error() string {
	return fmt.Sprintf("%s: refusing to listen on %s without authentication: %s; %s, or listen on loopback (--listen %s)",
		e.Server, e.Addr, e.Risk, e.Fix, e.Suggestion)
}

// Is makes the error match ErrInsecureListen.
func (e *InsecureListenError) Is(target error) bool { return target == ErrInsecureListen }

// CheckListen accepts a host:port whose host is a loopback IP or
// "localhost", and any host:port when rule.Auth is set. Other hosts, the
// empty host (every interface) included, get an *InsecureListenError. An
// empty or malformed address gets an error wrapping rule.Invalid that
// names rule.Key.
func CheckListen(addr string, rule ListenRule) error {
	if addr == "" {
		return fmt.Errorf("%w: %s is empty; set a loopback address such as --listen %s", rule.Invalid, rule.Key, rule.Example)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not valid; expected host:port such as %s", rule.Invalid, rule.Key, addr, rule.Example)
	}
	if rule.Auth || IsLoopbackHost(host) {
		return nil
	}
	return &InsecureListenError{
		Server: rule.Server, Addr: addr, Suggestion: net.JoinHostPort("127.0.0.1", port),
		Risk: rule.Risk, Fix: rule.Fix,
	}
}

// IsLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1, or an IPv4
// loopback address mapped into IPv6).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// LoopbackHost reports whether the Host header of r names this machine's
// loopback. A server without authentication answers only such requests,
// so that a web page pointing its own name at 127.0.0.1 (DNS rebinding)
// cannot reach it.
func LoopbackHost(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return IsLoopbackHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}
