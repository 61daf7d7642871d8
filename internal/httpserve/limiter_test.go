package httpserve

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3, 10*time.Second)
	now := time.Unix(1_000_000, 0)
	if w := l.Wait("a", now); w != 0 {
		t.Fatalf("unknown client waits %v", w)
	}
	for i := range 3 {
		if w := l.Wait("a", now); w != 0 {
			t.Fatalf("failure %d: wait %v before the burst is spent", i, w)
		}
		if exhausted := l.Fail("a", now); exhausted != (i == 2) {
			t.Fatalf("failure %d: exhausted = %v", i, exhausted)
		}
	}
	if w := l.Wait("a", now); w != 10*time.Second {
		t.Errorf("wait after the burst = %v, want 10s", w)
	}
	if w := l.Wait("b", now); w != 0 {
		t.Errorf("another client waits %v", w)
	}
	if w := l.Wait("a", now.Add(4*time.Second)); w != 6*time.Second {
		t.Errorf("wait 4s later = %v, want 6s", w)
	}
	later := now.Add(10 * time.Second)
	if w := l.Wait("a", later); w != 0 {
		t.Errorf("wait after one refill = %v, want 0", w)
	}
	if !l.Fail("a", later) {
		t.Errorf("one failure after one refill does not exhaust the client again")
	}
}

// TestLimiterEviction: past MaxLimiterClients, clients whose bucket is
// full again are forgotten, and a limited client is kept.
func TestLimiterEviction(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2, time.Second)
	now := time.Unix(1_000_000, 0)
	l.Fail("limited", now)
	l.Fail("limited", now)
	for i := range MaxLimiterClients - 1 {
		l.Fail(fmt.Sprint("c", i), now.Add(-time.Minute))
	}
	l.Fail("newcomer", now)
	if n := len(l.clients); n != 2 {
		t.Errorf("%d clients kept after eviction, want 2 (the limited one and the newcomer)", n)
	}
	if w := l.Wait("limited", now); w == 0 {
		t.Errorf("the limited client was forgotten")
	}
	// When no bucket is full again, every one is forgotten.
	l = NewLimiter(1, time.Hour)
	for i := range MaxLimiterClients {
		l.Fail(fmt.Sprint("c", i), now)
	}
	l.Fail("newcomer", now)
	if n := len(l.clients); n != 1 {
		t.Errorf("%d clients kept, want 1", n)
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1:5000":             "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"[::1]:8080":                 "::1",
		"@":                          "@",
		"not an address":             "not an address",
	} {
		if got := ClientAddr(in); got != want {
			t.Errorf("ClientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
