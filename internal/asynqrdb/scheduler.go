package asynqrdb

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// asynq v0.26.0 lists the periodic tasks of its schedulers for asynqmon's
// scheduler view (and Inspector.SchedulerEntries) from two places:
//
//	asynq:schedulers                     ZSET of entry-list keys scored by expiry (base.AllSchedulers)
//	asynq:schedulers:{ID}                LIST of SchedulerEntry protobufs, with a TTL (base.SchedulerEntriesKey)
//	asynq:scheduler_history:<entry ID>   ZSET of SchedulerEnqueueEvent protobufs scored by Unix time (base.SchedulerHistoryKey)
//
// tuskq's schedules are written there so that the view lists them with
// their next and previous run; rdb.WriteSchedulerEntries and
// rdb.RecordSchedulerEnqueueEvent are the code this mirrors.

// AllSchedulers is the sorted set of scheduler entry keys (base.AllSchedulers).
const AllSchedulers = "asynq:schedulers"

// SchedulerEntriesKey is the list of entries of a scheduler (base.SchedulerEntriesKey).
func SchedulerEntriesKey(schedulerID string) string { return "asynq:schedulers:{" + schedulerID + "}" }

// SchedulerHistoryKey is the enqueue history of an entry (base.SchedulerHistoryKey).
func SchedulerHistoryKey(entryID string) string { return "asynq:scheduler_history:" + entryID }

// maxSchedulerEvents is the history kept per entry (rdb's maxEvents).
const maxSchedulerEvents = 1000

// SchedulerEntry is asynq's SchedulerEntry (internal/proto/asynq.proto).
type SchedulerEntry struct {
	ID      string
	Spec    string
	Type    string
	Payload []byte
	Opts    []string
	Next    time.Time
	Prev    time.Time // zero when never enqueued
}

// appendTimestamp appends a google.protobuf.Timestamp field. asynq encodes
// the zero time.Time as its (negative) seconds too.
func appendTimestamp(b []byte, num protowire.Number, t time.Time) []byte {
	var m []byte
	if s := t.Unix(); s != 0 {
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(s))
	}
	if n := t.Nanosecond(); n != 0 {
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(int64(n)))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// AppendProto appends e in protobuf wire format.
func (e *SchedulerEntry) AppendProto(b []byte) []byte {
	b = appendStringField(b, 1, e.ID)
	b = appendStringField(b, 2, e.Spec)
	b = appendStringField(b, 3, e.Type)
	if len(e.Payload) > 0 {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, e.Payload)
	}
	for _, o := range e.Opts {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, o)
	}
	b = appendTimestamp(b, 6, e.Next)
	return appendTimestamp(b, 7, e.Prev)
}

// writeSchedulerEntries stores what rdb's writeSchedulerEntriesCmd stores
// (the same list, in the same order), with one LPUSH per 1,000 entries
// rather than one per entry.
var writeSchedulerEntries = redis.NewScript(`
redis.call("DEL", KEYS[1])
for i = 2, #ARGV, 1000 do
	redis.call("LPUSH", KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return redis.status_reply("OK")`)

// WriteSchedulerEntries replaces the entries of schedulerID, kept for ttl,
// as asynq's scheduler does every heartbeat.
func WriteSchedulerEntries(ctx context.Context, rdb redis.UniversalClient, schedulerID string, entries []SchedulerEntry, ttl time.Duration) error {
	key := SchedulerEntriesKey(schedulerID)
	args := make([]any, 0, len(entries)+1)
	args = append(args, int64(ttl/time.Second))
	for i := range entries {
		args = append(args, entries[i].AppendProto(nil))
	}
	exp := time.Now().Add(ttl).Unix()
	if err := rdb.ZAdd(ctx, AllSchedulers, redis.Z{Score: float64(exp), Member: key}).Err(); err != nil {
		return fmt.Errorf("asynqrdb: list scheduler entries: %w", err)
	}
	if err := writeSchedulerEntries.Run(ctx, rdb, []string{key}, args...).Err(); err != nil {
		return fmt.Errorf("asynqrdb: write scheduler entries: %w", err)
	}
	return nil
}

// SchedulerEntriesTTL returns how long the entries of schedulerID are
// still kept; 0 or less when they are gone.
func SchedulerEntriesTTL(ctx context.Context, rdb redis.UniversalClient, schedulerID string) (time.Duration, error) {
	d, err := rdb.TTL(ctx, SchedulerEntriesKey(schedulerID)).Result()
	if err != nil {
		return 0, fmt.Errorf("asynqrdb: scheduler entries: %w", err)
	}
	return d, nil
}

// ClearSchedulerEntries removes the entries of schedulerID.
func ClearSchedulerEntries(ctx context.Context, rdb redis.UniversalClient, schedulerID string) error {
	key := SchedulerEntriesKey(schedulerID)
	if err := rdb.ZRem(ctx, AllSchedulers, key).Err(); err != nil {
		return fmt.Errorf("asynqrdb: clear scheduler entries: %w", err)
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		return fmt.Errorf("asynqrdb: clear scheduler entries: %w", err)
	}
	return nil
}

// recordSchedulerEvent is rdb's recordSchedulerEnqueueEventCmd.
var recordSchedulerEvent = redis.NewScript(`
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -ARGV[3])
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
return redis.status_reply("OK")`)

// RecordSchedulerEnqueue adds an enqueue of taskID at at to the history of
// entryID, keeping the newest 1,000 as asynq does.
func RecordSchedulerEnqueue(ctx context.Context, rdb redis.UniversalClient, entryID, taskID string, at time.Time) error {
	var ev []byte
	ev = appendStringField(ev, 1, taskID)
	ev = appendTimestamp(ev, 2, at)
	err := recordSchedulerEvent.Run(ctx, rdb, []string{SchedulerHistoryKey(entryID)}, at.Unix(), ev, maxSchedulerEvents).Err()
	if err != nil {
		return fmt.Errorf("asynqrdb: record scheduler enqueue: %w", err)
	}
	return nil
}

// ClearSchedulerHistory deletes the enqueue history of entryID.
func ClearSchedulerHistory(ctx context.Context, rdb redis.UniversalClient, entryID string) error {
	if err := rdb.Del(ctx, SchedulerHistoryKey(entryID)).Err(); err != nil {
		return fmt.Errorf("asynqrdb: clear scheduler history: %w", err)
	}
	return nil
}
