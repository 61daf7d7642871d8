package asynqrdb

import (
	"context"
	"sync"
	"time"
)

// This file makes an idle server of several queues wait for wake-up
// tokens in Redis Cluster, where the markers of its queues live in
// different hash slots (usually on different nodes) and one BLPOP cannot
// name them all (CROSSSLOT).
//
// A spreadWait waits with one BLPOP per marker, each sent by its own
// goroutine through the Waiter's cluster client, which routes it to the
// node of the marker's slot. The first token ends the wait. The other
// BLPOPs are not cancelled (Redis has no cheap way to end a blocked call
// from the outside); they block on, until the wait's deadline, and one
// of them is reused by the server's next wait instead of sending another.
// A token one of them pops when no wait of the server is in progress, or
// after the wait already had its token, is pushed back to its marker: a
// token stands for a task, and another idle server (of this worker or
// another) must still be woken for it.

// spreadWait is the wait of one server on markers in different slots.
type spreadWait struct {
	w    *Waiter
	keys []string

	mu      sync.Mutex
	blocked map[string]bool // a BLPOP on the marker is in progress
	// The wait in progress: cur receives its one event (true: a token,
	// false: a BLPOP failed) and is nil between waits; done is set once
	// the event is sent; deadline is when the wait ends.
	cur      chan bool
	done     bool
	deadline time.Time
}

// newSpreadWait returns the wait of a server on the markers keys.
func newSpreadWait(w *Waiter, keys []string) *spreadWait {
	return &spreadWait{w: w, keys: keys, blocked: make(map[string]bool, len(keys))}
}

// wait is Waiter.wait for markers in different slots.
func (s *spreadWait) wait(timeout time.Duration) (woke, failed bool) {
	w := s.w
	if w.isStopped() {
		return false, false
	}
	timeout = min(timeout, w.maxWait)
	if timeout < time.Millisecond {
		return false, false
	}
	ch := make(chan bool, 1)
	s.mu.Lock()
	s.cur, s.done, s.deadline = ch, false, time.Now().Add(timeout)
	for _, k := range s.keys {
		if !s.blocked[k] {
			s.blocked[k] = true
			go s.watch(k)
		}
	}
	s.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var ok, got bool
	select {
	case ok = <-ch:
		got = true
	case <-timer.C:
	case <-w.stopped:
	}
	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	if !got {
		// The event may have come between the timer and the lines above
		// (events are sent with s.mu held, to the wait in progress only).
		select {
		case ok = <-ch:
			got = true
		default:
		}
	}
	switch {
	case !got:
		return false, false
	case ok:
		return true, false
	default:
		return false, w.pauseAfterError(timeout)
	}
}

// watch blocks on the marker key while a wait of the server is in
// progress and has no event yet, hands a token to it, or back to the
// marker when no wait needs it.
func (s *spreadWait) watch(key string) {
	for {
		s.mu.Lock()
		left := time.Until(s.deadline)
		if s.cur == nil || s.done || s.w.isStopped() || left < time.Millisecond {
			s.blocked[key] = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		woke, err := s.w.blpop([]string{key}, left)
		s.mu.Lock()
		if err != nil {
			// Redis unreachable, or the slot moved: the wait in progress
			// fails (the server fetches), and the next wait blocks anew.
			s.send(false)
			s.blocked[key] = false
			s.mu.Unlock()
			return
		}
		handed := woke && s.send(true)
		s.mu.Unlock()
		if woke && !handed {
			s.pushBack(key)
		}
	}
}

// send gives the wait in progress its event, when it has none yet, and
// reports whether it did; s.mu is held.
func (s *spreadWait) send(ev bool) bool {
	if s.cur == nil || s.done {
		return false
	}
	s.done = true
	s.cur <- ev // never blocks: one event per wait, buffered
	return true
}

// pushBack returns a token to the marker key, for another idle server.
// Should that fail, the task is left to the fetches of busy servers or to
// the fallback fetch.
func (s *spreadWait) pushBack(key string) {
	if s.w.isStopped() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.w.rdb.LPush(ctx, key, "1").Err()
}
