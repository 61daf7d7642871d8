package limits

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys of the run-time overrides (one hash slot, so a change and its
// revision bump are one transaction in Redis Cluster too).
const (
	// OverridesKey is the hash of the run-time limits: name → JSON Raw.
	OverridesKey = "{tuskq:limits}:overrides"
	// RevKey counts the changes of OverridesKey.
	RevKey = "{tuskq:limits}:rev"
	// Channel announces each change (the message is the new revision).
	Channel = "tuskq:limits:changed"
)

// DefaultResyncInterval is how often a watcher reads the revision to catch
// a change whose announcement it missed: a change reaches every worker
// within this time plus one round trip.
const DefaultResyncInterval = 5 * time.Second

// Source tells where an effective limit comes from.
const (
	SourceConfig   = "config"   // the configuration file
	SourceOverride = "override" // set at run time (worker limits set, PUT /v1/limits/NAME)
)

// Entry is one effective limit and where it comes from.
type Entry struct {
	Limit  Limit  `json:"-"`
	Raw    Raw    `json:"limit"`
	Source string `json:"source"`
}

// Store reads and writes the run-time overrides. It keeps nothing in
// memory; the CLI, the HTTP API, the monitor and the workers use it.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns a Store on rdb; the caller keeps ownership of rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Overrides returns the run-time limits by name. An entry that does not
// parse (written by hand) is skipped and reported in bad.
func (s *Store) Overrides(ctx context.Context) (map[string]Limit, map[string]error, error) {
	m, err := s.rdb.HGetAll(ctx, OverridesKey).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("limits: read overrides: %w", err)
	}
	out := make(map[string]Limit, len(m))
	bad := map[string]error{}
	for name, raw := range m {
		var r Raw
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			bad[name] = err
			continue
		}
		r.Name = name
		l, err := Parse(r)
		if err != nil {
			bad[name] = err
			continue
		}
		out[name] = l
	}
	return out, bad, nil
}

// Set stores l as a run-time limit (replacing the configured limit of the
// same name, if any) and announces the change to the workers.
func (s *Store) Set(ctx context.Context, l Limit) error {
	b, err := json.Marshal(l.Raw())
	if err != nil {
		return err
	}
	return s.change(ctx, func(p redis.Pipeliner) { p.HSet(ctx, OverridesKey, l.Name, b) })
}

// Clear removes the run-time limit name (the configured one, if any,
// applies again) and reports whether there was one.
func (s *Store) Clear(ctx context.Context, name string) (bool, error) {
	var del *redis.IntCmd
	err := s.change(ctx, func(p redis.Pipeliner) { del = p.HDel(ctx, OverridesKey, name) })
	if err != nil {
		return false, err
	}
	return del.Val() > 0, nil
}

// change runs write and bumps the revision in one transaction, then
// publishes the new revision.
func (s *Store) change(ctx context.Context, write func(redis.Pipeliner)) error {
	var rev *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		rev = p.Incr(ctx, RevKey)
		return nil
	})
	if err != nil {
		return fmt.Errorf("limits: write overrides: %w", err)
	}
	// A lost announcement is caught by the watchers' resync.
	_ = s.rdb.Publish(ctx, Channel, rev.Val()).Err()
	return nil
}

// Effective merges the configured limits and the overrides: an override
// replaces the configured limit of its name or adds one. Sorted by name.
func Effective(configured []Limit, overrides map[string]Limit) []Entry {
	var out []Entry
	for _, l := range configured {
		if _, ok := overrides[l.Name]; ok {
			continue
		}
		out = append(out, Entry{Limit: l, Raw: l.Raw(), Source: SourceConfig})
	}
	for _, l := range overrides {
		out = append(out, Entry{Limit: l, Raw: l.Raw(), Source: SourceOverride})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Limit.Name, b.Limit.Name) })
	return out
}

// List returns the effective limits given the configured ones.
func (s *Store) List(ctx context.Context, configured []Limit) ([]Entry, error) {
	ov, _, err := s.Overrides(ctx)
	if err != nil {
		return nil, err
	}
	return Effective(configured, ov), nil
}

// Watch keeps lim's limits equal to the configured ones merged with the
// overrides until ctx ends: it reads them at once, then again on every
// announcement and whenever the revision read every resync interval
// (DefaultResyncInterval when 0) has changed. It returns when ctx ends.
func Watch(ctx context.Context, rdb redis.UniversalClient, lim *Limiter, configured []Limit, resync time.Duration, logger *slog.Logger) {
	if resync <= 0 {
		resync = DefaultResyncInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store := NewStore(rdb)
	sub := rdb.Subscribe(ctx, Channel)
	defer sub.Close()
	msgs := sub.Channel()
	tick := time.NewTicker(resync)
	defer tick.Stop()
	var seen int64 = -1
	load := func(force bool) {
		rev, err := rdb.Get(ctx, RevKey).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return
		}
		if rev == seen && !force {
			return
		}
		ov, bad, err := store.Overrides(ctx)
		if err != nil {
			return
		}
		for name, e := range bad {
			logger.WarnContext(ctx, "limits: ignoring a run-time limit that does not parse", "limit", name, "error", e)
		}
		entries := Effective(configured, ov)
		ls := make([]Limit, len(entries))
		for i, e := range entries {
			ls[i] = e.Limit
		}
		lim.SetLimits(ls)
		seen = rev
	}
	load(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-msgs:
			load(false)
		case <-tick.C:
			load(false)
		}
	}
}

// InUse returns how many slots of the concurrency limit l are held now
// (leases not expired), over all its key values: the (other) bucket and
// each tracked value.
func InUse(ctx context.Context, rdb redis.UniversalClient, l Limit) (int64, error) {
	if l.Concurrency == 0 {
		return 0, nil
	}
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	from := strconv.FormatInt(now.UnixMilli(), 10)
	keys := []string{slotsKey(l.Name, "")}
	if l.Key != "" {
		vals, err := rdb.ZRange(ctx, keysKey(l.Name), 0, -1).Result()
		if err != nil {
			return 0, err
		}
		keys = keys[:0]
		for _, v := range append(vals, OtherKey) {
			keys = append(keys, slotsKey(l.Name, v))
		}
	}
	var total int64
	for _, k := range keys {
		n, err := rdb.ZCount(ctx, k, "("+from, "+inf").Result()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
