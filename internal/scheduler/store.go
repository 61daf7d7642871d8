package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/schedule"
)

// The store's keys share one hash slot ({schedules}), so its scripts work
// in Redis Cluster.
const (
	keyDefs    = "tuskq:{schedules}:defs"    // HASH name → schedule JSON
	keySource  = "tuskq:{schedules}:source"  // HASH name → config | api
	keyPaused  = "tuskq:{schedules}:paused"  // HASH name → Unix time paused
	keyTicks   = "tuskq:{schedules}:ticks"   // HASH name → "LAST RUN" Unix seconds
	keyMissed  = "tuskq:{schedules}:missed"  // HASH name → ticks dropped, total
	keyVersion = "tuskq:{schedules}:version" // counter, bumped by every change
)

var storeKeys = []string{keyDefs, keySource, keyPaused, keyTicks, keyMissed, keyVersion}

// Sources of a schedule.
const (
	// SourceConfig marks a schedule of the configuration's schedules
	// section: only the configuration changes or removes it.
	SourceConfig = "config"
	// SourceAPI marks a schedule added at run time (CLI, HTTP API).
	SourceAPI = "api"
)

var (
	// ErrNotFound is returned for a schedule name the store does not hold.
	ErrNotFound = errors.New("no such schedule")
	// ErrConfigOwned is returned when a run-time change targets a schedule
	// of the configuration.
	ErrConfigOwned = errors.New("the schedule is defined in the configuration")
)

// Store holds the fleet's schedules in Redis. It is safe for concurrent
// use.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Entry is a stored schedule with its state.
type Entry struct {
	// Schedule is the definition.
	Schedule *schedule.Schedule
	// Source is SourceConfig or SourceAPI.
	Source string
	// Paused says no tick is enqueued.
	Paused bool
	// Last is the newest tick handled (enqueued, skipped or dropped); zero
	// before the first.
	Last time.Time
	// Run is the newest tick a task was enqueued for; zero before the
	// first.
	Run time.Time
	// Missed counts the ticks dropped by the missed-tick policy.
	Missed int64
	// Next is the next tick after now (and after Last).
	Next time.Time
}

var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur == 'config' and ARGV[3] ~= 'config' then return -1 end
local existed = redis.call('HEXISTS', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[6])
return existed`)

// Put adds or replaces the schedule s from source. A run-time Put
// (SourceAPI) of a configuration schedule fails with ErrConfigOwned.
// created says the name was new. A replaced schedule keeps its paused
// state and its last tick: the new spec's ticks follow it.
func (st *Store) Put(ctx context.Context, s *schedule.Schedule, source string) (created bool, err error) {
	js, err := s.MarshalJSON()
	if err != nil {
		return false, err
	}
	n, err := putScript.Run(ctx, st.rdb, storeKeys, s.Name, js, source).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("scheduler: put %s: %w", s.Name, err)
	case n < 0:
		return false, fmt.Errorf("scheduler: %s: %w; change it in the configuration file", s.Name, ErrConfigOwned)
	}
	return n == 0, nil
}

var removeScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
if cur == 'config' and ARGV[2] ~= 'config' then return -1 end
for i = 1, 5 do redis.call('HDEL', KEYS[i], ARGV[1]) end
redis.call('INCR', KEYS[6])
return 1`)

// Remove deletes a schedule and its state. A run-time Remove of a
// configuration schedule fails with ErrConfigOwned.
func (st *Store) Remove(ctx context.Context, name, source string) error {
	n, err := removeScript.Run(ctx, st.rdb, storeKeys, name, source).Int()
	switch {
	case err != nil:
		return fmt.Errorf("scheduler: remove %s: %w", name, err)
	case n == 0:
		return fmt.Errorf("scheduler: %s: %w", name, ErrNotFound)
	case n < 0:
		return fmt.Errorf("scheduler: %s: %w; remove it from the configuration file", name, ErrConfigOwned)
	}
	// The scheduler view's history of the schedule goes with it.
	_ = asynqrdb.ClearSchedulerHistory(ctx, st.rdb, name)
	return nil
}

var pauseScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
	redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
elseif redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then
	-- The ticks passed while paused are skipped, not missed.
	local v = redis.call('HGET', KEYS[4], ARGV[1])
	local last, run = 0, '0'
	if v then
		local sp = string.find(v, ' ')
		last = tonumber(string.sub(v, 1, sp - 1))
		run = string.sub(v, sp + 1)
	end
	if tonumber(ARGV[3]) > last then redis.call('HSET', KEYS[4], ARGV[1], ARGV[3] .. ' ' .. run) end
end
redis.call('INCR', KEYS[6])
return 1`)

// Pause stops enqueueing the schedule's ticks, fleet-wide, until Resume.
// The ticks that pass while it is paused are not missed ticks: they are
// skipped whatever the missed policy.
func (st *Store) Pause(ctx context.Context, name string) error {
	return st.pause(ctx, name, strconv.FormatInt(time.Now().Unix(), 10))
}

// Resume undoes Pause.
func (st *Store) Resume(ctx context.Context, name string) error { return st.pause(ctx, name, "") }

func (st *Store) pause(ctx context.Context, name, at string) error {
	n, err := pauseScript.Run(ctx, st.rdb, storeKeys, name, at, time.Now().Unix()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("scheduler: pause %s: %w", name, err)
	case n == 0:
		return fmt.Errorf("scheduler: %s: %w", name, ErrNotFound)
	}
	return nil
}

// Version returns the store's change counter: it changes whenever a
// schedule is put, removed, paused or resumed.
func (st *Store) Version(ctx context.Context) (int64, error) {
	v, err := st.rdb.Get(ctx, keyVersion).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("scheduler: %w", err)
	}
	return v, nil
}

// List returns every schedule, sorted by name, with its state; now sets
// Next. A stored schedule that no longer decodes is skipped and reported
// in the error (with the others returned).
func (st *Store) List(ctx context.Context, now time.Time) ([]Entry, error) {
	pipe := st.rdb.Pipeline()
	defs := pipe.HGetAll(ctx, keyDefs)
	src := pipe.HGetAll(ctx, keySource)
	paused := pipe.HGetAll(ctx, keyPaused)
	ticks := pipe.HGetAll(ctx, keyTicks)
	missed := pipe.HGetAll(ctx, keyMissed)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("scheduler: list: %w", err)
	}
	var out []Entry
	var bad []string
	for name, js := range defs.Val() {
		s, ps := schedule.Decode(name, []byte(js), "")
		if len(ps) > 0 {
			bad = append(bad, name+": "+ps.Error())
			continue
		}
		e := Entry{Schedule: s, Source: src.Val()[name], Paused: paused.Val()[name] != ""}
		e.Last, e.Run = parseTicks(ticks.Val()[name])
		e.Missed, _ = strconv.ParseInt(missed.Val()[name], 10, 64)
		e.Next = s.Next(laterOf(e.Last, now))
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Schedule.Name, b.Schedule.Name) })
	if len(bad) > 0 {
		slices.Sort(bad)
		return out, fmt.Errorf("scheduler: stored schedules that do not decode: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// Get returns one schedule with its state.
func (st *Store) Get(ctx context.Context, name string, now time.Time) (Entry, error) {
	pipe := st.rdb.Pipeline()
	def := pipe.HGet(ctx, keyDefs, name)
	src := pipe.HGet(ctx, keySource, name)
	paused := pipe.HGet(ctx, keyPaused, name)
	ticks := pipe.HGet(ctx, keyTicks, name)
	missed := pipe.HGet(ctx, keyMissed, name)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Entry{}, fmt.Errorf("scheduler: get %s: %w", name, err)
	}
	if errors.Is(def.Err(), redis.Nil) {
		return Entry{}, fmt.Errorf("scheduler: %s: %w", name, ErrNotFound)
	}
	s, ps := schedule.Decode(name, []byte(def.Val()), "")
	if len(ps) > 0 {
		return Entry{}, fmt.Errorf("scheduler: stored schedule %s does not decode: %w", name, ps)
	}
	e := Entry{Schedule: s, Source: src.Val(), Paused: paused.Val() != ""}
	e.Last, e.Run = parseTicks(ticks.Val())
	e.Missed, _ = strconv.ParseInt(missed.Val(), 10, 64)
	e.Next = s.Next(laterOf(e.Last, now))
	return e, nil
}

// Reconcile makes the store's configuration schedules those of cfg: each
// is put (replacing a run-time schedule of the same name), and every
// configuration schedule cfg no longer has is removed. Run-time schedules
// of other names are left alone. It returns the names removed.
func (st *Store) Reconcile(ctx context.Context, cfg []*schedule.Schedule) (removed []string, err error) {
	keep := map[string]bool{}
	for _, s := range cfg {
		keep[s.Name] = true
		if _, err := st.Put(ctx, s, SourceConfig); err != nil {
			return nil, err
		}
	}
	src, err := st.rdb.HGetAll(ctx, keySource).Result()
	if err != nil {
		return nil, fmt.Errorf("scheduler: reconcile: %w", err)
	}
	for name, source := range src {
		if source != SourceConfig || keep[name] {
			continue
		}
		if err := st.Remove(ctx, name, SourceConfig); err != nil && !errors.Is(err, ErrNotFound) {
			return removed, err
		}
		removed = append(removed, name)
	}
	slices.Sort(removed)
	return removed, nil
}

// ticks reads the last and run ticks of name.
func (st *Store) ticks(ctx context.Context, name string) (last, run time.Time, err error) {
	v, err := st.rdb.HGet(ctx, keyTicks, name).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("scheduler: ticks of %s: %w", name, err)
	}
	last, run = parseTicks(v)
	return last, run, nil
}

var advanceScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[4], ARGV[1])
local last, run = 0, 0
if v then
	local sp = string.find(v, ' ')
	last = tonumber(string.sub(v, 1, sp - 1))
	run = tonumber(string.sub(v, sp + 1))
end
if tonumber(ARGV[2]) <= last then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if tonumber(ARGV[3]) > run then run = tonumber(ARGV[3]) end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ' ' .. run)
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[5], ARGV[1], ARGV[4]) end
return 1`)

// advance records that the ticks of name through last are handled, the
// newest enqueued being run, with dropped ticks dropped. Only the first
// replica to advance past a tick counts its dropped ticks; advanced says
// this call was it.
func (st *Store) advance(ctx context.Context, name string, last, run time.Time, dropped int) (advanced bool, err error) {
	var r int64
	if !run.IsZero() {
		r = run.Unix()
	}
	n, err := advanceScript.Run(ctx, st.rdb, storeKeys, name, last.Unix(), r, dropped).Int()
	if err != nil {
		return false, fmt.Errorf("scheduler: advance %s: %w", name, err)
	}
	return n == 1, nil
}

func parseTicks(v string) (last, run time.Time) {
	a, b, _ := strings.Cut(v, " ")
	if n, err := strconv.ParseInt(a, 10, 64); err == nil && n > 0 {
		last = time.Unix(n, 0)
	}
	if n, err := strconv.ParseInt(b, 10, 64); err == nil && n > 0 {
		run = time.Unix(n, 0)
	}
	return last, run
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
