// Package faults is the support code of the fault tests, which run bare
// asynq and tuskq workers as separate processes (./faultworker) through
// faults of Redis and of the workers themselves, and compare how many tasks
// each loses, runs twice or reports wrongly:
//
//	go test -tags faults -run TestFaults -parallel 16 ./internal/faults/
//
// (make test-faults). Every fault worker records what its handler did in a
// ledger: a Redis of its own that no fault touches, keyed by the sequence
// number a producer put in each task's payload, so a task enqueued twice
// shows up as well as one run twice. Record holds the producer's side
// (which enqueues were acknowledged, which failed, how long each took) and
// Count compares the two.
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Task types of the fault tests.
const (
	// TaskType is processed by every fault worker: it records its run in
	// the ledger and sleeps for the payload's duration.
	TaskType = "fault:work"
	// CrashType is the type whose handler crashes (the plugin-crash
	// scenario): a process plugin that exits on every task under tuskq, a
	// handler that exits the process under bare asynq.
	CrashType = "fault:crash"
)

// Ledger keys. Each is a hash keyed by the payload's sequence number.
const (
	// KeyRuns counts the handler runs that started.
	KeyRuns = "fault:runs"
	// KeyDone counts the handler runs that finished.
	KeyDone = "fault:done"
	// KeyRetried holds the highest asynq retry count a run saw.
	KeyRetried = "fault:retried"
	// KeyOwner names the worker process of the last run that started.
	KeyOwner = "fault:owner"
	// KeyFirstDone and KeyLastDone hold the Unix microseconds of the
	// first and of the last finished run.
	KeyFirstDone = "fault:first_done"
	// KeyLastDone: see KeyFirstDone.
	KeyLastDone = "fault:last_done"
	// KeyReady is a set of the worker processes that are processing.
	KeyReady = "fault:ready"
)

// ErrBadPayload is wrapped by DecodePayload's errors.
var ErrBadPayload = errors.New("faults: bad payload")

// Payload is the payload of a fault task.
type Payload struct {
	// Seq is unique per task a producer enqueued.
	Seq int64 `json:"seq"`
	// SleepMS is how long the handler sleeps, in milliseconds.
	SleepMS int `json:"ms"`
}

// NewPayload returns the payload of task seq, which sleeps 20 to 50 ms
// (a fixed function of seq, so runs compare).
func NewPayload(seq int64) Payload {
	return Payload{Seq: seq, SleepMS: 20 + int(seq%31)}
}

// Encode returns p as JSON.
func (p Payload) Encode() []byte {
	b, _ := json.Marshal(p) // two integers cannot fail
	return b
}

// DecodePayload parses a payload written by Encode.
func DecodePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if p.Seq <= 0 || p.SleepMS < 0 {
		return Payload{}, fmt.Errorf("%w: seq %d, ms %d", ErrBadPayload, p.Seq, p.SleepMS)
	}
	return p, nil
}

var (
	startScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local r = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > r then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1`)
	doneScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1`)
)

// Ledger records handler runs in the ledger Redis.
type Ledger struct {
	rdb redis.UniversalClient
}

// NewLedger returns a Ledger writing through rdb.
func NewLedger(rdb redis.UniversalClient) *Ledger { return &Ledger{rdb: rdb} }

// Start records that owner started a run of seq with the given retry count.
func (l *Ledger) Start(ctx context.Context, seq int64, retry int, owner string) error {
	err := startScript.Run(ctx, l.rdb, []string{KeyRuns, KeyRetried, KeyOwner}, seq, retry, owner).Err()
	if err != nil {
		return fmt.Errorf("faults: ledger start %d: %w", seq, err)
	}
	return nil
}

// Done records that a run of seq finished at the given time.
func (l *Ledger) Done(ctx context.Context, seq int64, at time.Time) error {
	err := doneScript.Run(ctx, l.rdb, []string{KeyDone, KeyFirstDone, KeyLastDone}, seq, at.UnixMicro()).Err()
	if err != nil {
		return fmt.Errorf("faults: ledger done %d: %w", seq, err)
	}
	return nil
}

// Ready records that the worker process name is processing.
func (l *Ledger) Ready(ctx context.Context, name string) error {
	if err := l.rdb.SAdd(ctx, KeyReady, name).Err(); err != nil {
		return fmt.Errorf("faults: ledger ready %s: %w", name, err)
	}
	return nil
}

// ReadyCount returns how many worker processes reported Ready.
func (l *Ledger) ReadyCount(ctx context.Context) (int, error) {
	n, err := l.rdb.SCard(ctx, KeyReady).Result()
	if err != nil {
		return 0, fmt.Errorf("faults: ledger ready count: %w", err)
	}
	return int(n), nil
}

// DoneCount returns how many sequence numbers finished at least once.
func (l *Ledger) DoneCount(ctx context.Context) (int, error) {
	n, err := l.rdb.HLen(ctx, KeyDone).Result()
	if err != nil {
		return 0, fmt.Errorf("faults: ledger done count: %w", err)
	}
	return int(n), nil
}

// Snapshot is the whole ledger at one time.
type Snapshot struct {
	// Runs, Done and Retried map a sequence number to its count of
	// started runs, of finished runs and to the highest retry count seen.
	Runs, Done, Retried map[int64]int
	// Owner maps a sequence number to the worker of its last started run.
	Owner map[int64]string
	// FirstDone and LastDone map a sequence number to the end of its
	// first and of its last finished run.
	FirstDone, LastDone map[int64]time.Time
}

// Snapshot reads the whole ledger.
func (l *Ledger) Snapshot(ctx context.Context) (Snapshot, error) {
	pipe := l.rdb.Pipeline()
	cmds := map[string]*redis.MapStringStringCmd{}
	for _, k := range []string{KeyRuns, KeyDone, KeyRetried, KeyOwner, KeyFirstDone, KeyLastDone} {
		cmds[k] = pipe.HGetAll(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Snapshot{}, fmt.Errorf("faults: read the ledger: %w", err)
	}
	s := Snapshot{Owner: map[int64]string{}}
	var err error
	for _, f := range []struct {
		key string
		dst *map[int64]int
	}{{KeyRuns, &s.Runs}, {KeyDone, &s.Done}, {KeyRetried, &s.Retried}} {
		if *f.dst, err = intHash(cmds[f.key].Val(), strconv.Atoi); err != nil {
			return Snapshot{}, fmt.Errorf("faults: ledger %s: %w", f.key, err)
		}
	}
	for _, f := range []struct {
		key string
		dst *map[int64]time.Time
	}{{KeyFirstDone, &s.FirstDone}, {KeyLastDone, &s.LastDone}} {
		*f.dst, err = intHash(cmds[f.key].Val(), func(v string) (time.Time, error) {
			us, err := strconv.ParseInt(v, 10, 64)
			return time.UnixMicro(us), err
		})
		if err != nil {
			return Snapshot{}, fmt.Errorf("faults: ledger %s: %w", f.key, err)
		}
	}
	for k, v := range cmds[KeyOwner].Val() {
		seq, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return Snapshot{}, fmt.Errorf("faults: ledger %s: %w", KeyOwner, err)
		}
		s.Owner[seq] = v
	}
	return s, nil
}

// intHash converts a hash keyed by sequence numbers.
func intHash[V any](h map[string]string, parse func(string) (V, error)) (map[int64]V, error) {
	out := make(map[int64]V, len(h))
	for k, v := range h {
		seq, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, err
		}
		if out[seq], err = parse(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
