package insight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys of the insight engine (none of them is asynq's).
const (
	// KeyWorkers is a hash: worker ID → its latest WorkerSnapshot (JSON).
	KeyWorkers = "tuskq:insight:workers"
	// KeyState is the engine's State (JSON): baselines and anomalies.
	KeyState = "tuskq:insight:state"
	// KeyReport is the latest Report (JSON), for the replicas that do not
	// hold the lease.
	KeyReport = "tuskq:insight:report"
	// KeyLease names the monitor replica that runs the engine.
	KeyLease = "tuskq:insight:lease"
)

// Store reads and writes the insight keys.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Publish writes a worker's snapshot, and keeps the hash for ttl after the
// last publication of any worker.
func (s *Store) Publish(ctx context.Context, snap WorkerSnapshot, ttl time.Duration) error {
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("insight: encoding the snapshot: %w", err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, KeyWorkers, snap.Worker, b)
		p.PExpire(ctx, KeyWorkers, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("insight: publishing the snapshot: %w", err)
	}
	return nil
}

// Remove deletes a worker's snapshot (at its shutdown).
func (s *Store) Remove(ctx context.Context, worker string) error {
	if err := s.rdb.HDel(ctx, KeyWorkers, worker).Err(); err != nil {
		return fmt.Errorf("insight: removing the snapshot: %w", err)
	}
	return nil
}

// Snapshots returns the snapshots taken after now - maxAge, and deletes
// the older ones (workers that died without removing theirs). An entry
// that does not decode is deleted too.
func (s *Store) Snapshots(ctx context.Context, now time.Time, maxAge time.Duration) ([]WorkerSnapshot, error) {
	all, err := s.rdb.HGetAll(ctx, KeyWorkers).Result()
	if err != nil {
		return nil, fmt.Errorf("insight: reading the worker snapshots: %w", err)
	}
	out := make([]WorkerSnapshot, 0, len(all))
	var stale []string
	for w, v := range all {
		var snap WorkerSnapshot
		if err := json.Unmarshal([]byte(v), &snap); err != nil || snap.At.Before(now.Add(-maxAge)) {
			stale = append(stale, w)
			continue
		}
		out = append(out, snap)
	}
	if len(stale) > 0 {
		if err := s.rdb.HDel(ctx, KeyWorkers, stale...).Err(); err != nil {
			return out, fmt.Errorf("insight: deleting stale snapshots: %w", err)
		}
	}
	return out, nil
}

// leaseScript takes or extends the lease: it succeeds when the key is
// free or already held by ARGV[1].
var leaseScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
if cur then
	return 0
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
`)

// Lease takes or extends the lease for owner for ttl and reports whether
// owner holds it. One replica runs the engine; if it dies the lease
// expires and another takes over with the state the first one saved.
func (s *Store) Lease(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{KeyLease}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("insight: taking the lease: %w", err)
	}
	return n == 1, nil
}

// SaveState writes the engine's state.
func (s *Store) SaveState(ctx context.Context, st *State) error {
	return s.save(ctx, KeyState, st, 0)
}

// LoadState reads the state, a new one when none is stored.
func (s *Store) LoadState(ctx context.Context) (*State, error) {
	st := NewState()
	if err := s.load(ctx, KeyState, st); err != nil {
		if errors.Is(err, redis.Nil) {
			return NewState(), nil
		}
		return nil, err
	}
	st.fill()
	return st, nil
}

// SaveReport writes the latest report, kept for ttl.
func (s *Store) SaveReport(ctx context.Context, r *Report, ttl time.Duration) error {
	return s.save(ctx, KeyReport, r, ttl)
}

// LoadReport reads the latest report; redis.Nil when none is fresh.
func (s *Store) LoadReport(ctx context.Context) (*Report, error) {
	r := &Report{}
	if err := s.load(ctx, KeyReport, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Store) save(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("insight: encoding %s: %w", key, err)
	}
	if err := s.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		return fmt.Errorf("insight: writing %s: %w", key, err)
	}
	return nil
}

func (s *Store) load(ctx context.Context, key string, v any) error {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return err
		}
		return fmt.Errorf("insight: reading %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("insight: decoding %s: %w", key, err)
	}
	return nil
}
