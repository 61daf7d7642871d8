package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/events"
)

// Summary is a workflow's state without its steps.
type Summary struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Policy Policy `json:"policy"`
	// Home is the queue whose hash slot holds the workflow's state.
	Home      string `json:"home_queue"`
	Total     int    `json:"total"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Cancelled int    `json:"cancelled"`
	Skipped   int    `json:"skipped"`
	// Released counts the steps enqueued and Callbacks the callbacks: a
	// step is released once at most, so Released never exceeds Total.
	Released  int `json:"released"`
	Callbacks int `json:"callbacks"`
	// Created and Finished (zero while it runs).
	Created  time.Time  `json:"created"`
	Finished *time.Time `json:"finished,omitempty"`
	TraceID  string     `json:"trace_id,omitempty"`
}

// Step is one step's state.
type Step struct {
	Name   string   `json:"name"`
	State  string   `json:"state"`
	After  []string `json:"after,omitempty"`
	Queue  string   `json:"queue"`
	TaskID string   `json:"task_id"`
	// Result is the step's result, when it succeeded and wrote one.
	Result []byte `json:"-"`
	// Progress is what the step's processor last reported with
	// tasks.Progress while the step was released (pending or running);
	// nil when it reported nothing. Finished steps do not carry it.
	Progress *events.Progress `json:"progress,omitempty"`
}

// State is a workflow's state with every step's, in the order the steps
// were given.
type State struct {
	Summary
	Steps []Step `json:"steps"`
}

func summary(m map[string]string) Summary {
	n := func(f string) int { v, _ := strconv.Atoi(m[f]); return v }
	s := Summary{
		ID: m["id"], State: m["state"], Policy: Policy(m["policy"]), Home: m["home"], Total: n("total"),
		Succeeded: n("succeeded"), Failed: n("failed"), Cancelled: n("cancelled"), Skipped: n("skipped"),
		Released: n("released"), Callbacks: n("callbacks"), TraceID: m["trace"],
	}
	if ms, err := strconv.ParseInt(m["created"], 10, 64); err == nil {
		s.Created = time.UnixMilli(ms).UTC()
	}
	if ms, err := strconv.ParseInt(m["finished"], 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		s.Finished = &t
	}
	return s
}

// Get reads workflow id with every step's state and result. It fails with
// ErrNotFound when there is no such workflow (or it expired).
func Get(ctx context.Context, rdb redis.UniversalClient, id string) (*State, error) {
	k, err := keys(ctx, rdb, id)
	if err != nil {
		return nil, err
	}
	var meta, states, afters, specs, results *redis.MapStringStringCmd
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HGetAll(ctx, k.Meta)
		states = p.HGetAll(ctx, k.State)
		afters = p.HGetAll(ctx, k.After)
		specs = p.HGetAll(ctx, k.Spec)
		results = p.HGetAll(ctx, k.Result)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", id, err)
	}
	if len(meta.Val()) == 0 {
		return nil, fmt.Errorf("workflow %s: %w", id, ErrNotFound)
	}
	st := &State{Summary: summary(meta.Val())}
	order := map[string]int{}
	for name, raw := range specs.Val() {
		var sp spec
		if json.Unmarshal([]byte(raw), &sp) != nil || sp.Index < 0 {
			continue
		}
		order[name] = sp.Index
		s := Step{Name: name, State: states.Val()[name], Queue: sp.Queue, TaskID: sp.ID}
		if a, ok := afters.Val()[name]; ok {
			_ = json.Unmarshal([]byte(a), &s.After)
		}
		if r, ok := results.Val()[name]; ok {
			s.Result = []byte(r)
		}
		st.Steps = append(st.Steps, s)
	}
	slices.SortFunc(st.Steps, func(a, b Step) int { return order[a.Name] - order[b.Name] })
	if err := readProgress(ctx, rdb, st.Steps); err != nil {
		return nil, fmt.Errorf("workflow %s: %w", id, err)
	}
	return st, nil
}

// readProgress sets the progress of the released steps (those pending or
// running), in one pipeline.
func readProgress(ctx context.Context, rdb redis.UniversalClient, steps []Step) error {
	var idx []int
	for i, s := range steps {
		if s.State == StepReleased {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(idx))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, i := range idx {
			cmds[j] = p.HGetAll(ctx, events.ProgressKey(steps[i].Queue, steps[i].TaskID))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("progress: %w", err)
	}
	for j, i := range idx {
		steps[i].Progress = events.ParseProgress(cmds[j].Val())
	}
	return nil
}

// List returns the latest workflows, newest first, at most limit, and
// prunes the index of those that expired.
func List(ctx context.Context, rdb redis.UniversalClient, limit int) ([]Summary, error) {
	ids, err := rdb.ZRevRange(ctx, asynqrdb.WorkflowIndex, 0, int64(max(limit, 1))-1).Result()
	if err != nil {
		return nil, fmt.Errorf("workflow: list: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	homes, err := rdb.HMGet(ctx, asynqrdb.WorkflowHomes, ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("workflow: list: %w", err)
	}
	metas := make([]*redis.MapStringStringCmd, len(ids))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			home, _ := homes[i].(string)
			metas[i] = p.HGetAll(ctx, asynqrdb.NewWorkflowKeys(home, id).Meta)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workflow: list: %w", err)
	}
	out := make([]Summary, 0, len(ids))
	var gone []string
	for i, id := range ids {
		if len(metas[i].Val()) == 0 {
			gone = append(gone, id)
			continue
		}
		out = append(out, summary(metas[i].Val()))
	}
	if len(gone) > 0 {
		members := make([]any, len(gone))
		for i, g := range gone {
			members[i] = g
		}
		_ = rdb.ZRem(ctx, asynqrdb.WorkflowIndex, members...).Err()
		_ = rdb.HDel(ctx, asynqrdb.WorkflowHomes, gone...).Err()
	}
	return out, nil
}

// Result returns the result of step of workflow id; ok is false when the
// step kept none.
func Result(ctx context.Context, rdb redis.UniversalClient, id, step string) (res []byte, ok bool, err error) {
	k, err := keys(ctx, rdb, id)
	if err != nil {
		return nil, false, err
	}
	b, err := rdb.HGet(ctx, k.Result, step).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("workflow %s: %w", id, err)
	}
	return b, true, nil
}
