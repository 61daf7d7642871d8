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

// allowEntry is one parsed worker.http_allow_hosts entry: a host with an
// optional port, or an IP range. An empty port allows the web ports 80
// and 443 only.
type allowEntry struct {
	host   string // canonical: see canonicalHost; "" for a range
	port   string
	prefix netip.Prefix // a range such as 10.0.0.0/8; valid only when host is ""
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
			return nil, fmt.Errorf("processors: worker.http_allow_hosts[%d]: %q %w", i, raw, err)
		}
		list = append(list, e)
	}
	return list, nil
}

// parseAllowEntry parses "host", "host:port", "[ipv6]", "[ipv6]:port", a
// bare IPv6 address or an IP range in CIDR notation ("10.0.0.0/8",
// "fd00::/8"). Its errors complete the sentence `"entry" …`.
func parseAllowEntry(s string) (allowEntry, error) {
	const example = `; give a host or host:port such as "api.example.com" or "127.0.0.1:9000"`
	if pfx, err := netip.ParsePrefix(s); err == nil {
		if pfx.Addr().Is4In6() {
			return allowEntry{}, fmt.Errorf("is an IPv4-mapped IPv6 range; write the IPv4 range instead")
		}
		return allowEntry{prefix: pfx.Masked()}, nil
	}
	if a, _, ok := strings.Cut(s, "/"); ok {
		if _, err := netip.ParseAddr(a); err == nil {
			return allowEntry{}, fmt.Errorf("is not a valid IP range; write a range in CIDR notation such as %q or %q", "10.0.0.0/8", "fd00::/8")
		}
	}
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
			return allowEntry{}, fmt.Errorf("has an empty port; drop the colon to allow ports 80 and 443, or give a number from 1 to 65535")
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

// webPort reports whether port is one an entry without a port allows.
func webPort(port string) bool { return port == "80" || port == "443" }

// allows reports whether the list allows host (canonical) on port, and
// whether an entry names the host at all (on another port).
func (l allowList) allows(host, port string) (ok, hostListed bool) {
	addr, err := netip.ParseAddr(host)
	isIP := err == nil
	for _, e := range l {
		switch {
		case e.host == host:
		case e.host == "" && isIP && e.prefix.Contains(addr):
		default:
			continue
		}
		hostListed = true
		if e.port == port || e.port == "" && webPort(port) {
			return true, true
		}
	}
	return false, hostListed
}

// allowsIP reports whether an entry names addr literally or holds it in a
// range. Ports are not checked here: every URL and redirect target has
// passed check, which does.
func (l allowList) allowsIP(addr netip.Addr) bool {
	addr = addr.Unmap()
	s := addr.String()
	for _, e := range l {
		if e.host == s || e.host == "" && e.prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// check refuses a URL whose host is not allowed, or whose port is not. what
// is "host" for the request URL and "redirect to host" for a redirect
// target.
func (l allowList) check(u *url.URL, what string) error {
	host, port := hostPort(u)
	ok, listed := l.allows(host, port)
	switch {
	case ok:
		return nil
	case listed:
		return permanent(ErrHostNotAllowed, fmt.Sprintf(
			"http:request: %s %q: port %s of that host is not allowed (an entry without a port allows 80 and 443 only); add %q to worker.http_allow_hosts to allow it",
			what, strings.ToLower(u.Host), port, net.JoinHostPort(host, port)))
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

// metadataAddrs are cloud metadata and platform services reachable from
// inside instances. Most also fall in a class denied below; each is named
// so that the refusal says what it is.
var metadataAddrs = map[netip.Addr]string{
	netip.MustParseAddr("169.254.169.254"): "AWS, GCP, Azure, OpenStack",
	netip.MustParseAddr("169.254.170.2"):   "AWS ECS",
	netip.MustParseAddr("fd00:ec2::254"):   "AWS IPv6",
	netip.MustParseAddr("100.100.100.200"): "Alibaba Cloud",
	netip.MustParseAddr("168.63.129.16"):   "Azure wireserver",
	netip.MustParseAddr("192.0.0.192"):     "Oracle Cloud",
}

// Ranges denied besides those the netip predicates name.
var (
	cgnatRange     = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space
	ulaRange       = netip.MustParsePrefix("fc00::/7")      // RFC 4193 unique local
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122 "this network"
	broadcastAddr4 = netip.MustParseAddr("255.255.255.255")
)

// deniedClass returns the class of an address dialGuard refuses unless the
// allow-list names it, as "a … address" completes it, or "" when addr is
// public.
func deniedClass(addr netip.Addr) string {
	addr = addr.Unmap()
	if who, ok := metadataAddrs[addr]; ok {
		return "a cloud metadata (" + who + ")"
	}
	switch {
	case addr.IsLoopback():
		return "a loopback"
	case addr.IsUnspecified(), thisNetwork.Contains(addr):
		return "an unspecified"
	case addr.IsLinkLocalUnicast():
		return "a link-local"
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast(), addr == broadcastAddr4:
		return "a multicast"
	case cgnatRange.Contains(addr):
		return "a shared (CGNAT, 100.64.0.0/10)"
	case ulaRange.Contains(addr):
		return "a unique local (ULA, fc00::/7)"
	case addr.IsPrivate():
		return "a private"
	}
	return ""
}

// dialGuard is the net.Dialer Control function of the default client, in
// the manner of Stripe's Smokescreen. The allow-list is matched on host
// names, which resolve at dial time, so an allowed name whose DNS an
// attacker controls (or rebinds between checks) could point at the cloud
// metadata service or at the worker's own network. dialGuard sees the
// address actually dialled, after resolution, and refuses loopback,
// unspecified, link-local, multicast, private, CGNAT, ULA and known cloud
// metadata addresses unless an entry names that address, or a range
// holding it, literally.
func (l allowList) dialGuard(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return permanent(ErrHostNotAllowed, fmt.Sprintf("http:request: refusing to dial %q: not an IP address and port", address))
	}
	addr := ap.Addr().Unmap()
	class := deniedClass(addr)
	if class == "" || l.allowsIP(addr) {
		return nil
	}
	return permanent(ErrHostNotAllowed, fmt.Sprintf(
		"http:request: refusing to dial %s, %s address; list it (or a range holding it) literally in worker.http_allow_hosts to allow it", addr, class))
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

// HTTPGuard sends outbound requests made on behalf of others (the
// http_request host function of wasm plugins) under the same rules as
// http:request: the host must be in worker.http_allow_hosts, redirects are
// checked against it, and the dial guard refuses private, loopback and
// metadata addresses the list does not name literally.
type HTTPGuard struct {
	allow  allowList
	client *http.Client
}

// NewHTTPGuard parses allowHosts (worker.http_allow_hosts) and returns a
// guard with the default client of http:request.
func NewHTTPGuard(allowHosts []string) (*HTTPGuard, error) {
	allow, err := parseAllowList(allowHosts)
	if err != nil {
		return nil, err
	}
	return &HTTPGuard{allow: allow, client: defaultClient(allow)}, nil
}

// Do sends req when its scheme is http or https and its host is allowed;
// otherwise it returns an error wrapping ErrHostNotAllowed. The caller
// closes the response body.
func (g *HTTPGuard) Do(req *http.Request) (*http.Response, error) {
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return nil, permanent(ErrHostNotAllowed, fmt.Sprintf("http:request: scheme %q refused; only http and https", s))
	}
	if err := g.allow.check(req.URL, "host"); err != nil {
		return nil, err
	}
	return g.client.Do(req)
}
