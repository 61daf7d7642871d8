package monitor

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxLimiterClients bounds the memory of the failed-login limiter. Past
// it, clients whose bucket is full again are forgotten first; if that is
// not enough, every bucket is forgotten (a flood from that many addresses
// is beyond what a per-address limit can stop).
const maxLimiterClients = 10_000

// loginLimiter is a token bucket of failed logins per client address:
// burst failures in a row, then one more every refill.
type loginLimiter struct {
	burst  float64
	refill time.Duration

	mu      sync.Mutex
	clients map[string]*bucket
}

// bucket is one client's allowance at a point in time.
type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(burst int, refill time.Duration) *loginLimiter {
	return &loginLimiter{burst: float64(burst), refill: refill, clients: map[string]*bucket{}}
}

// tokensAt returns the allowance of b at now.
func (l *loginLimiter) tokensAt(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed <= 0 {
		return b.tokens
	}
	return math.Min(l.burst, b.tokens+float64(elapsed)/float64(l.refill))
}

// wait returns how long client must wait before its next login attempt
// is even looked at: 0 while it has failures left.
func (l *loginLimiter) wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		return 0
	}
	tokens := l.tokensAt(b, now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) * float64(l.refill)))
}

// fail records a failed login of client and reports whether the client is
// now out of failures.
func (l *loginLimiter) fail(client string, now time.Time) (exhausted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxLimiterClients {
			l.forget(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.clients[client] = b
	}
	b.tokens = math.Max(0, l.tokensAt(b, now)-1)
	b.at = now
	return b.tokens < 1
}

// forget drops the clients whose bucket is full again, or every client
// when that frees nothing. l.mu is held.
func (l *loginLimiter) forget(now time.Time) {
	for c, b := range l.clients {
		if l.tokensAt(b, now) >= l.burst {
			delete(l.clients, c)
		}
	}
	if len(l.clients) >= maxLimiterClients {
		clear(l.clients)
	}
}

// clientAddr is the address a client is limited and logged by: the IP of
// remoteAddr, or its /64 network for IPv6, where one client commonly holds
// a whole /64. It is the direct peer: behind a reverse proxy every client
// shares the proxy's address.
func clientAddr(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() && !ip.IsLoopback() {
		p, err := ip.WithZone("").Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
