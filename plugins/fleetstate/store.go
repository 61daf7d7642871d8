package fleetstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrInvalidValue is wrapped by the error of SetConfig for a value that is
// not JSON.
var ErrInvalidValue = errors.New("invalid configuration value")

// Store reads and writes the fleet state in Redis. It keeps nothing in
// memory and is safe for concurrent use. The "worker plugins" command and
// the monitor use it; workers use a State.
type Store struct {
	rdb redis.UniversalClient
	now func() time.Time
}

// NewStore returns a Store on rdb. The caller keeps ownership of rdb.
func NewStore(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, now: time.Now}
}

// PluginState is the fleet state of one plugin.
type PluginState struct {
	// Name of the plugin.
	Name string `json:"name"`
	// Enabled is false when an operator disabled the plugin fleet-wide.
	Enabled bool `json:"enabled"`
	// Config holds the configuration overrides: key → JSON value.
	Config map[string]json.RawMessage `json:"config,omitempty"`
	// UpdatedAt is when the state last changed; zero when never set.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Invalid lists the config keys whose stored value is not JSON (written
	// to Redis by hand) with the parse error; they are ignored.
	Invalid map[string]string `json:"invalid,omitempty"`
}

// Snapshot is the whole fleet state at one revision.
type Snapshot struct {
	// Rev is the revision counter the snapshot was read at; the state may
	// be newer than Rev, never older.
	Rev int64
	// Plugins maps each plugin name with fleet state to its state. A
	// plugin that is absent is enabled and has no overrides.
	Plugins map[string]PluginState
}

// SetEnabled enables or disables plugin name fleet-wide and announces the
// change. It returns whether the plugin was enabled before.
func (s *Store) SetEnabled(ctx context.Context, name string, enabled bool) (bool, error) {
	if err := ValidateName(name); err != nil {
		return false, fmt.Errorf("fleetstate: %w", err)
	}
	var was *redis.StringCmd
	err := s.change(ctx, name, func(p redis.Pipeliner) {
		was = p.HGet(ctx, PluginKey(name), fieldEnabled)
		p.HSet(ctx, PluginKey(name), fieldEnabled, strconv.FormatBool(enabled))
	})
	if err != nil {
		return false, err
	}
	return was.Val() != "false", nil
}

// SetConfig sets the configuration overrides in set (key → JSON value) and
// removes those named in unset, in one change, and announces it. Values are
// checked to be JSON and stored compacted.
func (s *Store) SetConfig(ctx context.Context, name string, set map[string]json.RawMessage, unset []string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("fleetstate: %w", err)
	}
	args := make([]any, 0, 2*len(set))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if err := ValidateKey(k); err != nil {
			return fmt.Errorf("fleetstate: %w", err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, set[k]); err != nil {
			return fmt.Errorf("fleetstate: %w: %s: %w", ErrInvalidValue, k, err)
		}
		args = append(args, configPrefix+k, buf.String())
	}
	del := make([]string, 0, len(unset))
	for _, k := range unset {
		if err := ValidateKey(k); err != nil {
			return fmt.Errorf("fleetstate: %w", err)
		}
		if _, ok := set[k]; ok {
			return fmt.Errorf("fleetstate: %w: %s is both set and unset", ErrInvalidKey, k)
		}
		del = append(del, configPrefix+k)
	}
	return s.change(ctx, name, func(p redis.Pipeliner) {
		if len(args) > 0 {
			p.HSet(ctx, PluginKey(name), args...)
		}
		if len(del) > 0 {
			p.HDel(ctx, PluginKey(name), del...)
		}
	})
}

// change runs write inside MULTI/EXEC together with the bookkeeping of every
// change (updated_at, the names set, the revision), then publishes name. A
// lost PUBLISH is harmless: workers notice the revision on their next resync.
func (s *Store) change(ctx context.Context, name string, write func(redis.Pipeliner)) error {
	cmds, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		p.HSet(ctx, PluginKey(name), fieldUpdatedAt, s.now().UTC().Format(time.RFC3339Nano))
		p.SAdd(ctx, KeyNames, name)
		p.Incr(ctx, KeyRev)
		return nil
	})
	if err := firstError(err, cmds); err != nil {
		return fmt.Errorf("fleetstate: update plugin %s: %w", name, err)
	}
	if err := s.rdb.Publish(ctx, Channel, name).Err(); err != nil {
		return fmt.Errorf("fleetstate: plugin %s updated, but announcing it failed (workers pick it up on their next resync): %w", name, err)
	}
	return nil
}

// firstError returns the first error of cmds other than redis.Nil (a missing
// key or field, which callers handle), or err when no command has one.
func firstError(err error, cmds []redis.Cmder) error {
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return e
		}
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Rev returns the current revision counter (0 before the first change).
func (s *Store) Rev(ctx context.Context) (int64, error) {
	rev, err := s.rdb.Get(ctx, KeyRev).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fleetstate: read %s: %w", KeyRev, err)
	}
	return rev, nil
}

// Snapshot reads the whole fleet state.
func (s *Store) Snapshot(ctx context.Context) (Snapshot, error) {
	var revCmd *redis.StringCmd
	var namesCmd *redis.StringSliceCmd
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		revCmd = p.Get(ctx, KeyRev)
		namesCmd = p.SMembers(ctx, KeyNames)
		return nil
	})
	if err := firstError(err, cmds); err != nil {
		return Snapshot{}, fmt.Errorf("fleetstate: read plugin names: %w", err)
	}
	var rev int64
	if revCmd.Err() == nil {
		if rev, err = revCmd.Int64(); err != nil {
			return Snapshot{}, fmt.Errorf("fleetstate: %s holds %q, not an integer: %w", KeyRev, revCmd.Val(), err)
		}
	}
	names := namesCmd.Val()
	plugins, err := s.read(ctx, names)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Rev: rev, Plugins: plugins}, nil
}

// Plugin returns the state of plugin name and whether it has any fleet
// state. A plugin without state is enabled and has no overrides.
func (s *Store) Plugin(ctx context.Context, name string) (PluginState, bool, error) {
	if err := ValidateName(name); err != nil {
		return PluginState{}, false, fmt.Errorf("fleetstate: %w", err)
	}
	m, err := s.read(ctx, []string{name})
	if err != nil {
		return PluginState{}, false, err
	}
	ps, ok := m[name]
	if !ok {
		return PluginState{Name: name, Enabled: true}, false, nil
	}
	return ps, true, nil
}

// Plugins returns the state of every plugin with fleet state, sorted by
// name.
func (s *Store) Plugins(ctx context.Context) ([]PluginState, error) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PluginState, 0, len(snap.Plugins))
	for _, name := range slices.Sorted(maps.Keys(snap.Plugins)) {
		out = append(out, snap.Plugins[name])
	}
	return out, nil
}

// read loads the hashes of names in one pipeline. Names without a hash are
// left out.
func (s *Store) read(ctx context.Context, names []string) (map[string]PluginState, error) {
	out := make(map[string]PluginState, len(names))
	if len(names) == 0 {
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(names))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = p.HGetAll(ctx, PluginKey(name))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fleetstate: read plugin state: %w", err)
	}
	for i, name := range names {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		out[name] = parsePlugin(name, h)
	}
	return out, nil
}

// parsePlugin decodes a plugin's hash. Unknown fields are ignored so that a
// newer writer does not break an older reader.
func parsePlugin(name string, h map[string]string) PluginState {
	ps := PluginState{Name: name, Enabled: h[fieldEnabled] != "false"}
	if t, err := time.Parse(time.RFC3339Nano, h[fieldUpdatedAt]); err == nil {
		ps.UpdatedAt = t
	}
	for f, v := range h {
		k, ok := strings.CutPrefix(f, configPrefix)
		if !ok {
			continue
		}
		if !json.Valid([]byte(v)) {
			if ps.Invalid == nil {
				ps.Invalid = make(map[string]string)
			}
			ps.Invalid[k] = fmt.Sprintf("%q is not JSON", v)
			continue
		}
		if ps.Config == nil {
			ps.Config = make(map[string]json.RawMessage)
		}
		ps.Config[k] = json.RawMessage(v)
	}
	return ps
}

// DecodeConfig decodes overrides into plain Go values (encoding/json's:
// float64 numbers, []any, map[string]any). It returns nil for no overrides.
func DecodeConfig(raw map[string]json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		var x any
		if json.Unmarshal(v, &x) == nil {
			out[k] = x
		}
	}
	return out
}
