package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// SpareIdle is, with worker.wake push, how long a spare server (any of a
// worker's asynq servers but the first) goes finding every queue empty,
// with no task in flight, before the worker shuts it down. An idle worker
// process therefore runs one asynq server, and Redis sees the heartbeat,
// forwarder, janitor and recoverer of one server instead of
// DefaultServers'.
const SpareIdle = 30 * time.Second

// spareCheck is how often the worker looks for idle spare servers, at
// most.
const spareCheck = 5 * time.Second

// pool is the asynq servers of one worker process. With worker.wake poll
// they all run from start to shutdown. With push the first runs from
// start to shutdown and the spares run while there is work: they start
// when the first meets a backlog (two fetches in a row returned a task, or
// every slot of the first is busy) and each stops after SpareIdle without
// a task. The servers share the handler (registry, middleware, metrics)
// and the Redis client.
type pool struct {
	// mk builds and starts server i with handler h; with push it also
	// returns its fetch.
	mk      func(i int, h asynq.Handler) (*asynq.Server, *asynqrdb.MultiFetch, error)
	handler asynq.Handler
	slots   []int         // concurrency of each server
	elastic bool          // push: spares run only while there is work
	idle    time.Duration // SpareIdle

	busy []atomic.Int64 // tasks in flight per server

	mu       sync.Mutex
	srv      []*asynq.Server // nil: not running
	fetch    []*asynqrdb.MultiFetch
	retiring []bool // a spare being stopped
	closed   bool   // paused or shutting down: no more starts
	starting bool
	quit     chan struct{}
	quitOnce sync.Once
	wg       sync.WaitGroup
}

// newPool returns a pool of len(slots) servers; start starts them.
func newPool(slots []int, elastic bool, idle time.Duration, h asynq.Handler, mk func(i int, h asynq.Handler) (*asynq.Server, *asynqrdb.MultiFetch, error)) *pool {
	n := len(slots)
	return &pool{
		mk: mk, handler: h, slots: slots, elastic: elastic && n > 1, idle: idle,
		busy: make([]atomic.Int64, n), srv: make([]*asynq.Server, n),
		fetch: make([]*asynqrdb.MultiFetch, n), retiring: make([]bool, n),
		quit: make(chan struct{}),
	}
}

// start starts every server (poll) or the first (push); when one fails,
// those already started are shut down.
func (p *pool) start() error {
	n := len(p.slots)
	if p.elastic {
		n = 1
	}
	for i := range n {
		srv, fetch, err := p.mk(i, p.counted(i))
		if err != nil {
			p.shutdown()
			return err
		}
		p.mu.Lock()
		p.srv[i], p.fetch[i] = srv, fetch
		p.mu.Unlock()
		if i == 0 && p.elastic && fetch != nil {
			fetch.OnTask(func(streak int) {
				if streak >= 2 {
					p.up()
				}
			})
		}
	}
	if p.elastic {
		p.wg.Go(p.retireIdle)
	}
	return nil
}

// counted wraps the handler of server i with its count of tasks in
// flight; when every slot of the first is busy, the spares start.
func (p *pool) counted(i int) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		n := p.busy[i].Add(1)
		defer p.busy[i].Add(-1)
		if i == 0 && p.elastic && n >= int64(p.slots[0]) {
			p.up()
		}
		return p.handler.ProcessTask(ctx, t)
	})
}

// up starts the spares that are not running, in the background. It does
// not block: it is called from the first server's fetch loop.
func (p *pool) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.starting || !p.anyOff() {
		return
	}
	p.starting = true
	p.wg.Go(p.startSpares)
}

// anyOff reports whether a spare is neither running nor stopping; p.mu is
// held.
func (p *pool) anyOff() bool {
	for i := 1; i < len(p.srv); i++ {
		if p.srv[i] == nil && !p.retiring[i] {
			return true
		}
	}
	return false
}

// startSpares starts every spare that is off.
func (p *pool) startSpares() {
	defer func() {
		p.mu.Lock()
		p.starting = false
		p.mu.Unlock()
	}()
	for i := 1; i < len(p.slots); i++ {
		p.mu.Lock()
		skip := p.closed || p.srv[i] != nil || p.retiring[i]
		p.mu.Unlock()
		if skip {
			continue
		}
		srv, fetch, err := p.mk(i, p.counted(i))
		if err != nil {
			// Redis answers asynq's start-up write later; the next
			// backlog tries again.
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			srv.Shutdown()
			continue
		}
		p.srv[i], p.fetch[i] = srv, fetch
		p.mu.Unlock()
	}
}

// retireIdle shuts down, every spareCheck (or half the idle time), the
// spares that have been idle that long with no task in flight, until the pool closes.
func (p *pool) retireIdle() {
	t := time.NewTicker(min(spareCheck, max(p.idle/2, time.Millisecond)))
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		for i := 1; i < len(p.srv); i++ {
			p.mu.Lock()
			idle := !p.closed && p.srv[i] != nil && !p.retiring[i] && p.fetch[i] != nil &&
				p.fetch[i].IdleFor() >= p.idle && p.busy[i].Load() == 0
			if idle {
				p.retiring[i] = true
			}
			srv := p.srv[i]
			p.mu.Unlock()
			if idle {
				p.retire(i, srv)
			}
		}
	}
}

// retire stops server i fetching, lets the tasks it took meanwhile
// finish, and shuts it down.
func (p *pool) retire(i int, srv *asynq.Server) {
	srv.Stop()
	p.awaitIdle(i)
	srv.Shutdown()
	p.mu.Lock()
	p.srv[i], p.fetch[i], p.retiring[i] = nil, nil, false
	p.mu.Unlock()
}

// awaitIdle returns when server i has no task in flight, or when the
// worker shuts down (asynq's shutdown then waits for them itself).
func (p *pool) awaitIdle(i int) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for p.busy[i].Load() > 0 {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
	}
}

// close returns the servers running and not being retired, and closes
// the pool to new starts.
func (p *pool) close() group {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var g group
	for i, s := range p.srv {
		if s != nil && !p.retiring[i] {
			g = append(g, s)
		}
	}
	return g
}

// stop makes every server stop fetching new tasks (Pause).
func (p *pool) stop() { p.close().stop() }

// shutdown shuts every server down gracefully (see asynq.Server.Shutdown),
// those being started or retired included.
func (p *pool) shutdown() {
	g := p.close()
	p.quitOnce.Do(func() { close(p.quit) })
	g.shutdown()
	p.wg.Wait()
}
