package tasks_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// replyEater is a loopback TCP proxy to Redis that passes every command on
// and, once eat is set, swallows Redis's replies: Redis runs the command,
// the client never hears of it, as when Redis stops or the network fails
// between the two.
type replyEater struct {
	ln    net.Listener
	redis string
	eat   atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startReplyEater(t *testing.T, redisAddr string) *replyEater {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyEater{ln: ln, redis: redisAddr}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *replyEater) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		r, err := net.Dial("tcp", p.redis)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, r)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(r, c) })
		p.wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 && !p.eat.Load() {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// An enqueue whose command Redis ran but whose reply was lost reports that
// the outcome is unknown (ErrOutcomeUnknown), never that the task was not
// stored; enqueued again with the same task ID it is not stored twice.
func TestEnqueueLostReplyIsUnknownNotFailed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	proxy := startReplyEater(t, srv.Addr())
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: proxy.ln.Addr().String()}, tasks.ClientOptions{EnqueueTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first enqueue publishes the queue and loads the script.
	if _, err := c.Enqueue(ctx, "lost:reply", []byte("warm"), nil); err != nil {
		t.Fatal(err)
	}
	proxy.eat.Store(true)
	_, err = c.Enqueue(ctx, "lost:reply", []byte("x"), &tasks.EnqueueOptions{TaskID: "lost-1"})
	const want = `tasks: enqueue "lost:reply" as task lost-1: no reply from Redis within 1s: ` +
		`the task may have been stored; enqueue it again with the same task ID once Redis answers: ` +
		`it is stored at most once (a task ID conflict then means it was stored)`
	if !errors.Is(err, tasks.ErrOutcomeUnknown) || !errors.Is(err, tasks.ErrEnqueueTimeout) || err.Error() != want {
		t.Fatalf("enqueue with its reply lost: err\n got %v\nwant %s", err, want)
	}

	direct, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	// Redis did store it: the error said it might have.
	if ti, err := direct.Inspector().GetTaskInfo("default", "lost-1"); err != nil || string(ti.Payload) != "x" {
		t.Fatalf("task lost-1: %+v, %v; want stored with payload x", ti, err)
	}
	_, err = direct.Enqueue(ctx, "lost:reply", []byte("x"), &tasks.EnqueueOptions{TaskID: "lost-1"})
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("enqueue again with the same ID: %v; want asynq.ErrTaskIDConflict (stored once)", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if n, err := rdb.LLen(ctx, "asynq:{default}:pending").Result(); err != nil || n != 2 {
		t.Fatalf("pending = %d, %v; want 2 (warm and lost-1, once)", n, err)
	}
}

// An enqueue to a Redis that is down never reached it: the error says the
// task was not stored, and not that the outcome is unknown.
func TestEnqueueRedisDownIsNotStored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{EnqueueTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(ctx, "down:x", nil, &tasks.EnqueueOptions{TaskID: "down-1"})
	const want = `tasks: enqueue "down:x" as task down-1: no reply from Redis within 500ms: ` +
		`the task was not stored; enqueueing again with the same task ID cannot duplicate it`
	if err == nil || err.Error() != want || !errors.Is(err, tasks.ErrEnqueueTimeout) || errors.Is(err, tasks.ErrOutcomeUnknown) {
		t.Fatalf("enqueue to a stopped Redis: %v; want %q, not ErrOutcomeUnknown", err, want)
	}
}

// A client whose go-redis re-sends on its own (a RedisConnOpt of one's
// own with the default MaxRetries) reports only its last attempt's error,
// which may hide an earlier attempt that reached Redis: even against a
// stopped Redis, the enqueue says the task may have been stored.
func TestEnqueueRetryingClientIsUnknown(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	c, err := tasks.NewClient(plainConnOpt{asynq.RedisClientOpt{Addr: srv.Addr()}}, tasks.ClientOptions{EnqueueTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(ctx, "down:x", nil, &tasks.EnqueueOptions{TaskID: "down-2"})
	if !errors.Is(err, tasks.ErrOutcomeUnknown) || !errors.Is(err, tasks.ErrEnqueueTimeout) {
		t.Fatalf("enqueue through a retrying client to a stopped Redis: %v; want ErrOutcomeUnknown", err)
	}
}
