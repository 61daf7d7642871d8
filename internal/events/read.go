package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// Filter selects events. The zero Filter selects every event of every
// queue.
type Filter struct {
	// Queues are the queues to read; empty means every queue in asynq's
	// list of queues, looked up again as the reader goes (new queues join).
	Queues []string
	// Types keeps the events of these task types; empty keeps every type.
	Types []string
	// TaskID keeps the events of this task ID; empty keeps every task.
	TaskID string
	// WorkflowID keeps the events of this workflow; empty keeps every one.
	WorkflowID string
	// Allow, when set, is asked about every event the other fields keep
	// (an API token's scope); false drops it.
	Allow func(Event) bool
}

// match reports whether f keeps ev.
func (f *Filter) match(ev *Event) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, ev.TaskType) {
		return false
	}
	if f.TaskID != "" && ev.TaskID != f.TaskID {
		return false
	}
	if f.WorkflowID != "" && ev.WorkflowID != f.WorkflowID {
		return false
	}
	return f.Allow == nil || f.Allow(*ev)
}

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Filter selects the events.
	Filter Filter
	// Cursor is where to start (after it; see Cursor); empty starts at the
	// present (Redis's clock when the reader is made).
	Cursor string
	// Block is the longest Next waits for an event; 0 means 5s.
	Block time.Duration
	// PresenceTTL is the life of the listener registration the reader
	// renews while it is used; 0 means 30s.
	PresenceTTL time.Duration
	// QueueRefresh is how often a reader of every queue looks for new
	// queues; 0 means 5s.
	QueueRefresh time.Duration
	// Count is the most entries one read takes per stream; 0 means 1000.
	Count int64
}

// Item is one event Next returns and the cursor just after it.
type Item struct {
	Event
	// Cursor is the reader's position after this event (see Cursor).
	Cursor string
}

// Reader reads the event log. It is not safe for concurrent use.
type Reader struct {
	rdb     redis.UniversalClient
	opts    ReaderOptions
	cursor  Cursor
	queues  []string
	listed  time.Time // when queues was last looked up (all queues)
	renewed time.Time // when the presence key was last renewed
	cluster bool
}

// NewReader returns a reader of rdb's event log and registers it as a
// listener (PresenceKey), so that ModeAuto publishers start writing. A bad
// opts.Cursor is an error wrapping ErrBadCursor.
func NewReader(ctx context.Context, rdb redis.UniversalClient, opts ReaderOptions) (*Reader, error) {
	if opts.Block <= 0 {
		opts.Block = 5 * time.Second
	}
	if opts.PresenceTTL <= 0 {
		opts.PresenceTTL = 30 * time.Second
	}
	if opts.QueueRefresh <= 0 {
		opts.QueueRefresh = 5 * time.Second
	}
	if opts.Count <= 0 {
		opts.Count = 1000
	}
	r := &Reader{rdb: rdb, opts: opts}
	_, r.cluster = rdb.(*redis.ClusterClient)
	if opts.Cursor != "" {
		c, err := ParseCursor(opts.Cursor)
		if err != nil {
			return nil, err
		}
		r.cursor = c
	} else {
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("events: read the clock of Redis: %w", err)
		}
		r.cursor = cursorAt(fmt.Sprintf("%d-0", now.UnixMilli()))
	}
	if err := r.renew(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Cursor returns the reader's position after the last event it read.
func (r *Reader) Cursor() string { return r.cursor.String() }

// renew keeps the listener registration alive.
func (r *Reader) renew(ctx context.Context) error {
	if time.Since(r.renewed) < r.opts.PresenceTTL/3 {
		return nil
	}
	if err := r.rdb.Set(ctx, PresenceKey, "1", r.opts.PresenceTTL).Err(); err != nil {
		return fmt.Errorf("events: register the listener: %w", err)
	}
	r.renewed = time.Now()
	return nil
}

// queueList returns the queues to read.
func (r *Reader) queueList(ctx context.Context) ([]string, error) {
	if len(r.opts.Filter.Queues) > 0 {
		return r.opts.Filter.Queues, nil
	}
	if r.queues != nil && time.Since(r.listed) < r.opts.QueueRefresh {
		return r.queues, nil
	}
	qs, err := r.rdb.SMembers(ctx, asynqrdb.AllQueues).Result()
	if err != nil {
		return nil, fmt.Errorf("events: list the queues: %w", err)
	}
	sort.Strings(qs)
	r.queues, r.listed = qs, time.Now()
	return qs, nil
}

// Next returns the events after the reader's position that the filter
// keeps, in stream order (across queues, by stream ID), waiting up to
// Block for one. It returns no events and no error when none came in
// time; the position still moves past the events the filter dropped.
func (r *Reader) Next(ctx context.Context) ([]Item, error) {
	deadline := time.Now().Add(r.opts.Block)
	for {
		if err := r.renew(ctx); err != nil {
			return nil, err
		}
		queues, err := r.queueList(ctx)
		if err != nil {
			return nil, err
		}
		var streams []redis.XStream
		if len(queues) > 0 {
			wait := time.Until(deadline)
			if streams, err = r.read(ctx, queues, wait); err != nil {
				return nil, err
			}
		}
		if items := r.take(streams); len(items) > 0 {
			return items, nil
		}
		if !time.Now().Before(deadline) {
			return nil, nil
		}
		if len(queues) == 0 || r.cluster {
			// Nothing to block on (no queue yet), or a poll (Cluster):
			// wait a little before looking again.
			t := time.NewTimer(min(100*time.Millisecond, time.Until(deadline)))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	}
}

// read reads the queues' streams after the cursor: one XREAD BLOCK
// outside Cluster, a pipeline of XREADs without BLOCK in Cluster (the
// streams live in different hash slots).
func (r *Reader) read(ctx context.Context, queues []string, wait time.Duration) ([]redis.XStream, error) {
	if !r.cluster {
		args := make([]string, 0, 2*len(queues))
		for _, q := range queues {
			args = append(args, StreamKey(q))
		}
		for _, q := range queues {
			args = append(args, r.cursor.position(q))
		}
		block := max(wait, time.Millisecond)
		res, err := r.rdb.XRead(ctx, &redis.XReadArgs{Streams: args, Count: r.opts.Count, Block: block}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("events: read: %w", err)
		}
		return res, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.XStreamSliceCmd, len(queues))
	for i, q := range queues {
		cmds[i] = pipe.XRead(ctx, &redis.XReadArgs{Streams: []string{StreamKey(q), r.cursor.position(q)}, Count: r.opts.Count, Block: -1})
	}
	_, _ = pipe.Exec(ctx)
	var out []redis.XStream
	for _, c := range cmds {
		res, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("events: read: %w", err)
		}
		out = append(out, res...)
	}
	return out, nil
}

// entry is one stream entry read, and its queue.
type entry struct {
	queue string
	msg   redis.XMessage
}

// take moves the cursor past the streams' entries and returns the events
// the filter keeps, ordered by stream ID.
func (r *Reader) take(streams []redis.XStream) []Item {
	var all []entry
	for _, s := range streams {
		q := queueOfKey(s.Stream)
		for _, m := range s.Messages {
			all = append(all, entry{queue: q, msg: m})
		}
	}
	if len(streams) > 1 {
		sort.SliceStable(all, func(i, j int) bool { return lessID(all[i].msg.ID, all[j].msg.ID) })
	}
	var items []Item
	for _, e := range all {
		r.cursor.advance(e.queue, e.msg.ID)
		data, _ := e.msg.Values[entryField].(string)
		ev, err := Decode(e.msg.ID, []byte(data))
		if err != nil || !r.opts.Filter.match(&ev) {
			continue
		}
		items = append(items, Item{Event: ev, Cursor: r.cursor.String()})
	}
	return items
}

// queueOfKey returns the queue of a stream key (StreamKey's inverse).
func queueOfKey(key string) string {
	const prefix, suffix = "tuskq:{", "}:events"
	if len(key) < len(prefix)+len(suffix) {
		return key
	}
	return key[len(prefix) : len(key)-len(suffix)]
}
