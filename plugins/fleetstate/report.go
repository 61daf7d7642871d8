package fleetstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Plugin statuses in a PluginReport.
const (
	StatusLoaded   = "loaded"
	StatusFailed   = "failed"
	StatusDisabled = "disabled"
)

// WorkerReport is what one worker has loaded, stored as JSON under
// WorkerKey(Worker).
type WorkerReport struct {
	// Worker is the worker's ID, host:pid:uuid.
	Worker string `json:"worker"`
	// Host and PID identify the worker's process.
	Host string `json:"host"`
	// PID is the worker's process ID.
	PID int `json:"pid"`
	// StartedAt is when the worker opened its State.
	StartedAt time.Time `json:"started_at"`
	// UpdatedAt is when the report was last written (by Report or by the
	// heartbeat).
	UpdatedAt time.Time `json:"updated_at"`
	// Plugins lists every plugin version the worker has loaded or failed to
	// load, sorted by name then version.
	Plugins []PluginReport `json:"plugins"`
}

// PluginReport is the status of one plugin version on one worker.
type PluginReport struct {
	// Name and Version of the plugin, from its manifest.
	Name string `json:"name"`
	// Version from the manifest.
	Version string `json:"version"`
	// Runtime is process, exec or native.
	Runtime string `json:"runtime"`
	// Status is StatusLoaded, StatusFailed or StatusDisabled.
	Status string `json:"status"`
	// Error says why a failed version did not load.
	Error string `json:"error,omitempty"`
	// TaskTypes are the task types the version handles.
	TaskTypes []string `json:"task_types"`
	// LoadedAt is when the worker loaded (or tried to load) this version.
	LoadedAt time.Time `json:"loaded_at,omitzero"`
}

// NewWorkerID returns a worker ID of the form host:pid:uuid, unique across
// restarts and across processes that share a host name.
func NewWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + uuid.NewString()
}

// Workers returns the current report of every worker whose report has not
// expired, sorted by worker ID.
func (s *Store) Workers(ctx context.Context) ([]WorkerReport, error) {
	ids, err := s.rdb.ZRange(ctx, KeyWorkers, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("fleetstate: read %s: %w", KeyWorkers, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, WorkerKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("fleetstate: read worker reports: %w", err)
	}
	out := make([]WorkerReport, 0, len(ids))
	for i, id := range ids {
		raw, err := cmds[i].Bytes()
		if err != nil {
			continue // expired: the worker stopped without closing
		}
		var rep WorkerReport
		if err := json.Unmarshal(raw, &rep); err != nil {
			rep = WorkerReport{Worker: id, Plugins: []PluginReport{{
				Status: StatusFailed,
				Error:  fmt.Sprintf("fleetstate: the report under %s is not valid JSON: %v", WorkerKey(id), err),
			}}}
		}
		out = append(out, rep)
	}
	slices.SortFunc(out, func(a, b WorkerReport) int { return strings.Compare(a.Worker, b.Worker) })
	return out, nil
}

// writeReport stores rep for ttl and prunes the workers set of reports
// that expired long ago.
func (s *Store) writeReport(ctx context.Context, rep WorkerReport, ttl time.Duration) error {
	raw, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("fleetstate: encode report: %w", err)
	}
	now := s.now()
	// Prune with a margin of one TTL, so that a worker whose clock runs
	// behind ours is not dropped while its key is still alive.
	cutoff := now.Add(-ttl).UnixMilli()
	cmds, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, WorkerKey(rep.Worker), raw, ttl)
		p.ZAdd(ctx, KeyWorkers, redis.Z{Score: float64(now.Add(ttl).UnixMilli()), Member: rep.Worker})
		p.ZRemRangeByScore(ctx, KeyWorkers, "-inf", strconv.FormatInt(cutoff, 10))
		return nil
	})
	if err := firstError(err, cmds); err != nil {
		return fmt.Errorf("fleetstate: write report of %s: %w", rep.Worker, err)
	}
	return nil
}

// deleteReport removes the report of worker id.
func (s *Store) deleteReport(ctx context.Context, id string) error {
	cmds, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, WorkerKey(id))
		p.ZRem(ctx, KeyWorkers, id)
		return nil
	})
	if err := firstError(err, cmds); err != nil {
		return fmt.Errorf("fleetstate: delete report of %s: %w", id, err)
	}
	return nil
}
