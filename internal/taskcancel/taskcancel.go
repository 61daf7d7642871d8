// Package taskcancel carries the cancellation of a running task, named by
// its queue and ID, to the worker running it.
//
// asynq's own cancellation (Inspector.CancelProcessing) is broadcast by task
// ID alone, and task IDs are unique per queue only: cancelling aq/job-71
// would also cancel vq/job-71. tuskq publishes its own message, carrying the
// queue and the ID, on Channel; each worker keeps a Registry of the tasks it
// runs, keyed by (queue, ID), and cancels only the task that matches both.
//
// The HTTP API and the enqueue CLI publish with Publish; a worker serves a
// Registry: its Middleware around the processors and Listen on the
// worker's Redis client. Listen also hears asynq's own cancel channel
// (Inspector.CancelProcessing, asynqmon's cancel button), by ID alone as
// asynq means it; the worker's asynq servers no longer hear it themselves
// (asynqrdb.ServerClient moves their subscription away). Plain pub/sub
// works on standalone Redis, behind Sentinel and on Redis Cluster (where a
// PUBLISH reaches the subscribers of every node).
//
// # Cancellation that sticks
//
// asynq ends a cancelled attempt by ending its context of the attempt at
// once, whether or not the processor returns, and then records the
// attempt as failed and retries it: the cancelled work runs again. Here
// Cancel first marks the task as cancelled on request, then ends the
// context (BaseContext, cause ErrCancelled). asynq then records the
// attempt as failed at once, and the worker's asynq servers, asking
// TakeCancelled, end the task instead of retrying it
// (asynqrdb.ServerClient.EndCancelled): archived with the error
// "cancelled", or deleted with Delete set. When the processor returns
// first, Middleware returns an error wrapping tasks.ErrCancelled and
// asynq.SkipRetry (archive) or asynq.RevokeTask (delete), so the task
// ends the same way, and the task line says outcome cancelled. A worker
// shutting down does not go through here: asynq hands its tasks back, to
// be run again.
package taskcancel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/tasks"
)

// Channel is the pub/sub channel cancellations are published on.
const Channel = "tuskq:{cancel}:task"

// ErrCancelled is the cause of the context of a task cancelled through
// this package.
var ErrCancelled = errors.New("task cancelled on request")

// ErrBadTask is wrapped by the errors of Publish for an empty queue or ID.
var ErrBadTask = errors.New("taskcancel: queue and task ID are required")

// Message is what Publish sends, as JSON.
type Message struct {
	// Queue is the queue of the task to cancel.
	Queue string `json:"queue"`
	// ID is the task's ID, unique within Queue only.
	ID string `json:"id"`
}

// Publish asks every worker to cancel the task id of queue if it runs it.
// A worker that does not run that exact task ignores the message; no
// worker may be running it at all.
func Publish(ctx context.Context, rdb redis.UniversalClient, queue, id string) error {
	if queue == "" || id == "" {
		return fmt.Errorf("%w (queue %q, id %q)", ErrBadTask, queue, id)
	}
	b, err := json.Marshal(Message{Queue: queue, ID: id})
	if err != nil {
		return fmt.Errorf("taskcancel: encode: %w", err)
	}
	if err := rdb.Publish(ctx, Channel, b).Err(); err != nil {
		return fmt.Errorf("taskcancel: publish the cancellation of %s/%s: %w", queue, id, err)
	}
	return nil
}

// key names one task.
type key struct{ queue, id string }

// slot holds the cancel function of one attempt's base context.
type slot struct{ cancel context.CancelCauseFunc }

type slotKey struct{}

// Registry is the set of tasks a worker is running, keyed by queue and ID.
// Its zero value is not usable: create it with NewRegistry.
type Registry struct {
	// Delete makes a cancelled task deleted rather than archived with the
	// error "cancelled" (worker.cancelled). Set it before use.
	Delete bool

	mu      sync.Mutex
	running map[key]map[*slot]struct{}
	// ended holds the tasks cancelled on request whose outcome has not
	// been recorded yet, with the time of the cancellation.
	ended map[key]time.Time
}

// endedTTL bounds how long a cancellation waits in Registry.ended for the
// task's outcome to be recorded (a task handed back by a shutdown, or
// completed, never asks).
const endedTTL = 10 * time.Minute

// cancelledError is the error a cancelled attempt ends with: "cancelled",
// wrapping tasks.ErrCancelled and the asynq error that ends the task
// without a retry (SkipRetry: archive; RevokeTask: delete).
type cancelledError struct{ end error }

func (e cancelledError) Error() string { return tasks.ErrCancelled.Error() }

func (e cancelledError) Is(target error) bool {
	return target == tasks.ErrCancelled || target == e.end
}

// endErr is the error of an attempt cancelled on request.
func (r *Registry) endErr() error {
	if r.Delete {
		return cancelledError{end: asynq.RevokeTask}
	}
	return cancelledError{end: asynq.SkipRetry}
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{running: map[key]map[*slot]struct{}{}, ended: map[key]time.Time{}}
}

// BaseContext returns a context derived from parent that Cancel can end.
// A worker returns it from asynq.Config.BaseContext: asynq runs each task
// in a context derived from it and, when it ends, records the attempt as
// failed at once, whether or not the processor returns. The context is
// cancellable only once Middleware has registered the task running in it.
func (r *Registry) BaseContext(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	return context.WithValue(ctx, slotKey{}, &slot{cancel: cancel})
}

// TakeCancelled reports whether the task id of queue was cancelled on
// request and its outcome is not recorded yet, and forgets it: the
// worker's asynq servers ask it when they record a failed attempt
// (asynqrdb.ServerClient.EndCancelled).
func (r *Registry) TakeCancelled(queue, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{queue, id}
	if _, ok := r.ended[k]; !ok {
		return false
	}
	delete(r.ended, k)
	return true
}

// markEnded records k as cancelled on request; r.mu is held.
func (r *Registry) markEnded(k key, now time.Time) {
	for old, at := range r.ended {
		if now.Sub(at) > endedTTL {
			delete(r.ended, old)
		}
	}
	r.ended[k] = now
}

// Middleware registers each running task under its queue and ID, so that
// Cancel reaches it, and removes it when the processor returns. Under a
// BaseContext, Cancel ends asynq's context of the attempt; otherwise it
// ends the context handed to the processor only, and the attempt ends when
// the processor returns. Whatever the processor returns after a
// cancellation, the attempt's error is the cancelled error (see the
// package documentation), so the task is archived or deleted, never
// retried.
func (r *Registry) Middleware() tasks.Middleware {
	return func(next tasks.Processor) tasks.Processor {
		return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			queue, _ := asynq.GetQueueName(ctx)
			id, _ := asynq.GetTaskID(ctx)
			s, _ := ctx.Value(slotKey{}).(*slot)
			if s == nil {
				var cancel context.CancelCauseFunc
				ctx, cancel = context.WithCancelCause(ctx)
				defer cancel(nil)
				s = &slot{cancel: cancel}
			}
			k := key{queue, id}
			r.add(k, s)
			defer r.remove(k, s)
			err := next.ProcessTask(ctx, t)
			if errors.Is(context.Cause(ctx), ErrCancelled) {
				return r.endErr()
			}
			return err
		})
	}
}

func (r *Registry) add(k key, s *slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.running[k]
	if m == nil {
		m = map[*slot]struct{}{}
		r.running[k] = m
	}
	m[s] = struct{}{}
}

func (r *Registry) remove(k key, s *slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running[k], s)
	if len(r.running[k]) == 0 {
		delete(r.running, k)
	}
}

// Cancel cancels the attempts of task id of queue running here, with cause
// ErrCancelled, and returns how many there were (0 when this worker does
// not run that task; a task of the same ID in another queue is not
// touched).
func (r *Registry) Cancel(queue, id string) int {
	r.mu.Lock()
	slots := make([]*slot, 0, len(r.running[key{queue, id}]))
	for s := range r.running[key{queue, id}] {
		slots = append(slots, s)
	}
	if len(slots) > 0 {
		r.markEnded(key{queue, id}, time.Now())
	}
	r.mu.Unlock()
	for _, s := range slots {
		s.cancel(ErrCancelled)
	}
	return len(slots)
}

// CancelID cancels the attempts of every task of ID id running here,
// whatever its queue, as asynq's own cancellation (by ID alone) means it,
// and returns how many there were.
func (r *Registry) CancelID(id string) int {
	r.mu.Lock()
	var slots []*slot
	now := time.Now()
	for k, m := range r.running {
		if k.id == id {
			for s := range m {
				slots = append(slots, s)
			}
			r.markEnded(k, now)
		}
	}
	r.mu.Unlock()
	for _, s := range slots {
		s.cancel(ErrCancelled)
	}
	return len(slots)
}

// Running reports how many attempts are registered.
func (r *Registry) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.running {
		n += len(m)
	}
	return n
}

// Listen subscribes to Channel and to asynq's cancel channel on rdb and,
// until stop is called, cancels the registered task each message names
// (by queue and ID on Channel, by ID alone on asynq's). It returns once Redis has
// confirmed the subscription; go-redis resubscribes by itself after a
// lost connection. logger (nil: discarded) receives a debug line per
// cancellation and a warning per malformed message.
func (r *Registry) Listen(ctx context.Context, rdb redis.UniversalClient, logger *slog.Logger) (stop func(), err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ps := rdb.Subscribe(ctx, Channel, asynqrdb.CancelChannel)
	for range 2 { // one confirmation per channel
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			return nil, fmt.Errorf("taskcancel: subscribe to %s and %s: %w", Channel, asynqrdb.CancelChannel, err)
		}
	}
	msgs := ps.Channel(redis.WithChannelSize(64))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range msgs {
			if m.Channel == asynqrdb.CancelChannel {
				if n := r.CancelID(m.Payload); n > 0 {
					logger.DebugContext(ctx, "task cancelled on request (asynq)", "task_id", m.Payload)
				}
				continue
			}
			var msg Message
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.Queue == "" || msg.ID == "" {
				logger.WarnContext(ctx, "taskcancel: ignoring a malformed cancellation", "channel", m.Channel, "bytes", len(m.Payload))
				continue
			}
			if n := r.Cancel(msg.Queue, msg.ID); n > 0 {
				logger.DebugContext(ctx, "task cancelled on request", "queue", msg.Queue, "task_id", msg.ID)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = ps.Close() // closes msgs
			<-done
		})
	}, nil
}
