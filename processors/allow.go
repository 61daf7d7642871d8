package processors

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
)

// allowEntry is one parsed worker.http_allow_hosts entry. An empty port
// allows every port of host.
type allowEntry struct {
	host string // canonical: see canonicalHost
	port string
}

// allowList is the parsed worker.http_allow_hosts.
type allowList []allowEntry

// parseAllowList parses the entries of worker.http_allow_hosts. Each error
// names the entry by index and says what is expected.
func parseAllowList(entries []string) (allowList, error) {
	list := make(allowList, 0, len(entries))
	for i, raw := range entries {
		e, err := parseAllowEntry(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("processors: worker.http_allow_hosts[%d]: %q %s", i, raw, err.Error())
		}
		list = append(list, e)
	}
	return list, nil
}

// parseAllowEntry parses "host", "host:port", "[ipv6]", "[ipv6]:port" or a
// bare IPv6 address. Its errors complete the sentence `"entry" …`.
func parseAllowEntry(s string) (allowEntry, error) {
	const example = `; give a host or host:port such as "api.example.com" or "127.0.0.1:9000"`
	switch {
	case s == "":
		return allowEntry{}, fmt.Errorf("is empty; remove it or name a host such as %q", "api.example.com")
	case strings.Contains(s, "/"):
		return allowEntry{}, fmt.Errorf("is a URL or path, not a host%s", example)
	case strings.ContainsAny(s, "*@ \t?#"):
		return allowEntry{}, fmt.Errorf("is not a host name (wildcards, user info and spaces are not supported)%s", example)
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case strings.HasPrefix(s, "["), strings.Count(s, ":") == 1:
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return allowEntry{}, fmt.Errorf("is not host:port (%w)%s", err, example)
		}
		if p == "" {
			return allowEntry{}, fmt.Errorf("has an empty port; drop the colon to allow every port, or give a number from 1 to 65535")
		}
		host, port = h, p
	}
	if _, err := netip.ParseAddr(host); err != nil {
		switch {
		case strings.Contains(host, ":"):
			return allowEntry{}, fmt.Errorf("is not a valid IPv6 address; write an IPv6 address with a port as [addr]:port")
		case host == "":
			return allowEntry{}, fmt.Errorf("has no host%s", example)
		case !validHostName(host):
			return allowEntry{}, fmt.Errorf("is not a host name (letters, digits, '-', '_' and '.')%s", example)
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return allowEntry{}, fmt.Errorf("has port %q; want a number from 1 to 65535", port)
		}
		port = strconv.Itoa(n)
	}
	return allowEntry{host: canonicalHost(host), port: port}, nil
}

// validHostName reports whether h is made of the characters of DNS names.
func validHostName(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// canonicalHost lower-cases a host name and drops a trailing dot; an IP
// address is written in its canonical form, IPv4-mapped IPv6 as IPv4.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}

// hostPort returns the canonical host of u and its port, the scheme's
// default when u has none.
func hostPort(u *url.URL) (host, port string) {
	host, port = canonicalHost(u.Hostname()), u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return host, port
}

// allows reports whether the list allows host (canonical) on port.
func (l allowList) allows(host, port string) bool {
	for _, e := range l {
		if e.host == host && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}

// allowsIP reports whether an entry names addr literally.
func (l allowList) allowsIP(addr netip.Addr) bool {
	s := addr.Unmap().String()
	for _, e := range l {
		if e.host == s {
			return true
		}
	}
	return false
}

// check refuses a URL whose host is not allowed. what is "host" for the
// request URL and "redirect to host" for a redirect target.
func (l allowList) check(u *url.URL, what string) error {
	host, port := hostPort(u)
	if l.allows(host, port) {
		return nil
	}
	return permanent(ErrHostNotAllowed, fmt.Sprintf(
		"http:request: %s %q is not in worker.http_allow_hosts; add it to the config to allow it",
		what, strings.ToLower(u.Host)))
}

// maxRedirects is how many redirects a request follows.
const maxRedirects = 10

// checkRedirect returns the CheckRedirect of the client: every redirect
// target must use http or https and be allowed by the list; then next (the
// caller's own policy) decides, or the limit of maxRedirects.
func (l allowList) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return permanent(ErrHostNotAllowed, fmt.Sprintf(
				"http:request: redirect to scheme %q refused; only http and https are followed", s))
		}
		if err := l.check(req.URL, "redirect to host"); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return tagged(fmt.Sprintf("http:request: stopped after %d redirects", maxRedirects), asynq.SkipRetry)
		}
		return nil
	}
}

// dialGuard is the net.Dialer Control function of the default client. The
// allow-list is matched on host names, which resolve at dial time, so a name
// whose DNS an attacker controls could point at the cloud metadata service
// (169.254.169.254) or another link-local address. dialGuard refuses to
// connect to link-local, multicast and unspecified addresses unless an entry
// names that address literally. Loopback and private addresses stay
// allowed: internal webhooks on private networks are a normal use.
func (l allowList) dialGuard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return permanent(ErrHostNotAllowed, fmt.Sprintf("http:request: refusing to dial %q: not an IP address and port", address))
	}
	addr := ap.Addr().Unmap()
	class := ""
	switch {
	case addr.IsLinkLocalUnicast():
		class = "a link-local"
	case addr.IsMulticast():
		class = "a multicast"
	case addr.IsUnspecified():
		class = "an unspecified"
	default:
		return nil
	}
	if l.allowsIP(addr) {
		return nil
	}
	return permanent(ErrHostNotAllowed, fmt.Sprintf(
		"http:request: refusing to dial %s, %s address; list it literally in worker.http_allow_hosts to allow it", addr, class))
}

// Timeouts of the default client.
const (
	dialTimeout         = 10 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// defaultClient returns the client used when Options.HTTPClient is nil: no
// proxy, bounded dial and handshake times, the dial guard, and the redirect
// check. The overall time of a request is bounded by its context.
func defaultClient(l allowList) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: l.dialGuard}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: l.checkRedirect(nil),
	}
}

// guardClient returns a shallow copy of c whose redirects are also checked
// against the list.
func guardClient(c *http.Client, l allowList) *http.Client {
	g := *c
	g.CheckRedirect = l.checkRedirect(c.CheckRedirect)
	return &g
}
