package limits

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Usage is what a limit holds and defers now, read from its Redis keys
// (the monitor's limits page). It reads; it changes nothing.
type Usage struct {
	// InUse is the concurrency slots held (leases not expired), over all
	// key values; 0 without a concurrency limit.
	InUse int64 `json:"in_use"`
	// Waiting is the tasks refused by the concurrency limit and deferred
	// until a slot is released (each promoted by a release, or back after
	// the backstop).
	Waiting int64 `json:"waiting"`
	// Keys is the key values tracked by a keyed limit (at most MaxKeys;
	// the others share the (other) bucket).
	Keys int64 `json:"keys"`
	// RateBooked is how far ahead of now the rate's starts are given out
	// (GCRA's theoretical arrival time minus now): zero when the rate has
	// room for a start now, about one interval per start taken ahead
	// otherwise. The largest over key values.
	RateBooked time.Duration `json:"rate_booked_ns"`
	// RateDeferred is the tasks refused by the rate and deferred to come
	// back at the rate, beyond the starts already booked: the backlog the
	// rate is spreading out. Summed over key values.
	RateDeferred int64 `json:"rate_deferred"`
}

// ReadUsage returns l's current use in two round trips: Redis's clock
// (and a keyed limit's tracked values), then the counts.
func ReadUsage(ctx context.Context, rdb redis.UniversalClient, l Limit) (Usage, error) {
	var u Usage
	pipe := rdb.Pipeline()
	now := pipe.Time(ctx)
	var tracked *redis.StringSliceCmd
	if l.Key != "" {
		tracked = pipe.ZRange(ctx, keysKey(l.Name), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return u, fmt.Errorf("limits: read the use of %s: %w", l.Name, err)
	}
	vals := []string{""}
	if tracked != nil {
		u.Keys = int64(len(tracked.Val()))
		vals = append(tracked.Val(), OtherKey)
	}
	// Leases that expired (a dead worker's) are not counted: the next
	// acquire drops them.
	from := "(" + strconv.FormatInt(now.Val().UnixMilli(), 10)
	pipe = rdb.Pipeline()
	var slots, waiters []*redis.IntCmd
	var rates []*redis.SliceCmd
	for _, kv := range vals {
		if l.Concurrency > 0 {
			slots = append(slots, pipe.ZCount(ctx, slotsKey(l.Name, kv), from, "+inf"))
			waiters = append(waiters, pipe.ZCard(ctx, waitersKey(l.Name, kv)))
		}
		if !l.Rate.IsZero() {
			rates = append(rates, pipe.HMGet(ctx, rateKey(l.Name, kv), "tat", "dtat"))
		}
	}
	if len(slots)+len(rates) == 0 {
		return u, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return u, fmt.Errorf("limits: read the use of %s: %w", l.Name, err)
	}
	for i := range slots {
		u.InUse += slots[i].Val()
		u.Waiting += waiters[i].Val()
	}
	if len(rates) == 0 {
		return u, nil
	}
	nowMS := float64(now.Val().UnixMicro()) / 1000
	interval := float64(l.Rate.Interval()) / float64(time.Millisecond)
	for _, r := range rates {
		tat, dtat := msField(r.Val(), 0), msField(r.Val(), 1)
		if ahead := tat - nowMS; ahead > 0 {
			u.RateBooked = max(u.RateBooked, time.Duration(ahead*float64(time.Millisecond)))
		}
		if back := dtat - max(tat, nowMS); back > 0 && interval > 0 {
			u.RateDeferred += int64(back/interval + 0.5)
		}
	}
	return u, nil
}

// msField reads field i of an HMGET answer as milliseconds; 0 when unset.
func msField(vals []any, i int) float64 {
	if i >= len(vals) {
		return 0
	}
	s, _ := vals[i].(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
