package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode says when a Publisher writes events.
type Mode string

// Modes of a Publisher.
const (
	// ModeAuto writes events only while a listener is registered (the
	// default).
	ModeAuto Mode = "auto"
	// ModeAlways writes every event.
	ModeAlways Mode = "always"
	// ModeOff writes none.
	ModeOff Mode = "off"
)

// Defaults of Options.
const (
	DefaultMaxLen        = 100_000
	DefaultCheckInterval = time.Second
)

// Options configures a Publisher. The zero value is ModeAuto with the
// defaults.
type Options struct {
	// Mode is when events are written; "" means ModeAuto.
	Mode Mode
	// MaxLen bounds each queue's stream (XADD MAXLEN ~, so Redis trims in
	// whole nodes and may keep somewhat more); 0 means DefaultMaxLen.
	MaxLen int64
	// CheckInterval is how often, at most, a ModeAuto publisher looks for
	// a listener; 0 means DefaultCheckInterval.
	CheckInterval time.Duration
}

// Check returns an error naming the bad option, or nil.
func (o Options) Check() error {
	switch o.Mode {
	case "", ModeAuto, ModeAlways, ModeOff:
	default:
		return fmt.Errorf("events: %w: mode %q; use auto, always or off", ErrBadOptions, o.Mode)
	}
	if o.MaxLen < 0 {
		return fmt.Errorf("events: %w: max_len %d is negative; use 0 for the default (%d)", ErrBadOptions, o.MaxLen, DefaultMaxLen)
	}
	if o.CheckInterval < 0 {
		return fmt.Errorf("events: %w: check interval %s is negative", ErrBadOptions, o.CheckInterval)
	}
	return nil
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	return o
}

// Publisher writes events to the queues' streams. It is safe for
// concurrent use; the events one goroutine publishes are written in order.
// Close waits for the writes in flight.
type Publisher struct {
	rdb  redis.UniversalClient
	opts Options

	checked  atomic.Int64 // Unix ns of the last look for listeners
	active   atomic.Bool  // a listener was there at the last look
	checking atomic.Bool  // a look is under way
	first    sync.Once    // the first look, which every caller waits for

	mu      sync.Mutex
	queue   *batch      // the events waiting for the next write
	sending bool        // a sender runs
	timer   *time.Timer // armed while only PublishAsync's events wait
	senders sync.WaitGroup
}

// asyncDelay is how long events published with PublishAsync wait for
// company before they are written: a task's "started" then usually goes
// in the same pipeline as its last event, or with other tasks' events.
const asyncDelay = 10 * time.Millisecond

// batch is the events of one pipeline; done is closed once it was sent.
type batch struct {
	args [][]any // each event's XADD arguments
	done chan struct{}
	err  error
}

// NewPublisher returns a publisher writing through rdb. It checks opts and
// does not contact Redis.
func NewPublisher(rdb redis.UniversalClient, opts Options) (*Publisher, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	return &Publisher{rdb: rdb, opts: opts.withDefaults()}, nil
}

// MaxLen is the length each stream is trimmed to.
func (p *Publisher) MaxLen() int64 { return p.opts.MaxLen }

// Enabled reports whether events are to be written now: always in
// ModeAlways, never in ModeOff, and in ModeAuto when a listener was
// registered at the last look. The call that finds the last look older
// than Options.CheckInterval looks again (one EXISTS); the others answer
// from memory. A nil Publisher is never enabled.
func (p *Publisher) Enabled(ctx context.Context) bool {
	if p == nil {
		return false
	}
	switch p.opts.Mode {
	case ModeAlways:
		return true
	case ModeOff:
		return false
	}
	now := time.Now().UnixNano()
	last := p.checked.Load()
	if last == 0 {
		// Until the first look is done, every caller waits for it: the
		// tasks a worker starts together, or the pipelines of a bulk
		// enqueue, must not run without events while it is under way.
		p.first.Do(func() { p.look(ctx, now) })
		return p.active.Load()
	}
	if now-last < int64(p.opts.CheckInterval) || !p.checking.CompareAndSwap(false, true) {
		return p.active.Load()
	}
	defer p.checking.Store(false)
	p.look(ctx, now)
	return p.active.Load()
}

// look looks for a listener. A failed look keeps the last answer and is
// made again on the next call (the first one: one second later).
func (p *Publisher) look(ctx context.Context, now int64) {
	n, err := p.rdb.Exists(ctx, PresenceKey).Result()
	if err != nil {
		if p.checked.Load() == 0 {
			p.checked.Store(now - int64(p.opts.CheckInterval) + int64(time.Second))
		}
		return
	}
	p.active.Store(n > 0)
	p.checked.Store(now)
}

// Publish writes ev when Enabled and returns once it is in Redis (its
// write shares a pipeline with the other events published meanwhile). It
// returns early with ctx's error when ctx ends first; the event is then
// still written.
func (p *Publisher) Publish(ctx context.Context, ev Event) error {
	if !p.Enabled(ctx) {
		return nil
	}
	b, err := p.add(ev, true)
	if err != nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("events: publish %s: %w", ev.Kind, ctx.Err())
	}
}

// PublishAsync writes ev when Enabled without waiting for the write: it
// goes with the next Publish's pipeline, or after about 10ms. Events
// published later by the same goroutine are written after it.
func (p *Publisher) PublishAsync(ctx context.Context, ev Event) error {
	if !p.Enabled(ctx) {
		return nil
	}
	_, err := p.add(ev, false)
	return err
}

// add queues ev for the next pipeline and returns its batch. A sync
// event starts a sender when none runs; an async one arms the timer that
// does.
func (p *Publisher) add(ev Event, sync bool) (*batch, error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	data, err := Encode(ev)
	if err != nil {
		return nil, err
	}
	args := []any{"xadd", StreamKey(queueOf(ev)), "maxlen", "~", p.opts.MaxLen, "*", entryField, data}
	p.mu.Lock()
	if p.queue == nil {
		p.queue = &batch{done: make(chan struct{})}
	}
	b := p.queue
	b.args = append(b.args, args)
	switch {
	case p.sending:
	case sync:
		if p.timer != nil {
			p.timer.Stop() // if it fired already, its kick finds a sender running
			p.timer = nil
		}
		p.sending = true
		p.senders.Add(1)
		go p.send()
	case p.timer == nil:
		p.timer = time.AfterFunc(asyncDelay, p.kick)
	}
	p.mu.Unlock()
	return b, nil
}

// kick starts sending the events the timer waited for, unless a sender
// runs already.
func (p *Publisher) kick() {
	p.mu.Lock()
	p.timer = nil
	if p.sending || p.queue == nil {
		p.mu.Unlock()
		return
	}
	p.sending = true
	p.senders.Add(1)
	p.mu.Unlock()
	p.send()
}

// send writes the queued batches, one pipeline each, until none is left.
func (p *Publisher) send() {
	defer p.senders.Done()
	for {
		p.mu.Lock()
		b := p.queue
		p.queue = nil
		if b == nil {
			p.sending = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		// Bounded by go-redis's read and write timeouts, not by one
		// publisher's context: the batch carries many callers' events.
		ctx := context.Background()
		pipe := p.rdb.Pipeline()
		for _, a := range b.args {
			pipe.Do(ctx, a...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.err = fmt.Errorf("events: write %d events: %w", len(b.args), err)
		}
		close(b.done)
	}
}

// Close writes the events still waiting and waits for the writes in
// flight. Events published after Close starts may be lost.
func (p *Publisher) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.timer != nil && p.timer.Stop() {
		p.timer = nil
		if !p.sending && p.queue != nil {
			p.sending = true
			p.senders.Add(1)
			go p.send()
		}
	}
	p.mu.Unlock()
	p.senders.Wait()
}
