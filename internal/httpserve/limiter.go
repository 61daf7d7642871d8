package httpserve

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxLimiterClients bounds the memory of a Limiter. Past it, clients whose
// bucket is full again are forgotten first; if that is not enough, every
// bucket is forgotten (a flood from that many addresses is beyond what a
// per-address limit can stop).
const MaxLimiterClients = 10_000

// Limiter limits failed authentications per client address: a token
// bucket (golang.org/x/time/rate) of burst failures in a row, then one
// more every refill. It is safe for concurrent use.
type Limiter struct {
	burst  int
	refill time.Duration

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// NewLimiter returns a Limiter allowing burst failures (at least one),
// then one every refill (which must be positive).
func NewLimiter(burst int, refill time.Duration) *Limiter {
	return &Limiter{burst: max(burst, 1), refill: refill, clients: map[string]*rate.Limiter{}}
}

// Refill returns how often a client regains one failure.
func (l *Limiter) Refill() time.Duration { return l.refill }

// Wait returns how long client must wait at now before its next attempt
// is even looked at: 0 while it has failures left.
func (l *Limiter) Wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		return 0
	}
	if tokens := b.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) * float64(l.refill))
	}
	return 0
}

// Fail records a failed attempt of client at now and reports whether the
// client is now out of failures.
func (l *Limiter) Fail(client string, now time.Time) (exhausted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= MaxLimiterClients {
			l.forget(now)
		}
		b = rate.NewLimiter(rate.Every(l.refill), l.burst)
		l.clients[client] = b
	}
	b.AllowN(now, 1)
	return b.TokensAt(now) < 1
}

// forget drops the clients whose bucket is full again, or every client
// when that frees nothing. l.mu is held.
func (l *Limiter) forget(now time.Time) {
	for c, b := range l.clients {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, c)
		}
	}
	if len(l.clients) >= MaxLimiterClients {
		clear(l.clients)
	}
}

// ClientAddr is the address a client is limited and logged by: the IP of
// remoteAddr, or its /64 network for IPv6, where one client commonly holds
// a whole /64. It is the direct peer: behind a reverse proxy every client
// shares the proxy's address.
func ClientAddr(remoteAddr string) string {
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
