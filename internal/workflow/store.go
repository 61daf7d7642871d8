package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// PlanStep is a step (or callback) laid out for Create: its task record
// made by asynqrdb.Prepare with the task ID TaskID(workflow, Name).
type PlanStep struct {
	Name  string
	After []string
	Queue string
	// Msg is the task record (asynqrdb.Enqueue.Args[3]) and Nonce its
	// enqueue nonce.
	Msg   []byte
	Nonce string
	// Delay is how long after its release the step runs (whole seconds).
	Delay time.Duration
}

// Plan is a workflow laid out for Create.
type Plan struct {
	ID string
	// Home is the queue whose hash slot holds the workflow's keys.
	Home   string
	Policy Policy
	// TTL is how long the state is kept after the end; 0: DefaultTTL.
	TTL     time.Duration
	TraceID string
	Steps   []PlanStep
	// OnSuccess and OnComplete are the callbacks; nil: none. Their Name
	// is ignored.
	OnSuccess, OnComplete *PlanStep
}

// chunk is how many steps one round trip of Create writes or releases.
const chunk = 1000

// spec is the JSON of a step's spec field (see asynqrdb.WorkflowKeys).
type spec struct {
	Queue string `json:"q"`
	ID    string `json:"id"`
	Nonce string `json:"n"`
	Delay int64  `json:"d,omitempty"`
	Index int    `json:"i"`
}

// Create stores the workflow p and releases its roots. Steps are written
// in chunks of a thousand, then the roots are released (the workflow is
// running from the first release on); a creator that dies in between
// leaves a workflow in state creating that never runs (delete it with
// Cancel). It fails with ErrExists when the ID is taken.
func Create(ctx context.Context, rdb redis.UniversalClient, p Plan, obs Observer) error {
	k := asynqrdb.NewWorkflowKeys(p.Home, p.ID)
	ok, err := rdb.HSetNX(ctx, k.Meta, "state", StateCreating).Result()
	if err != nil {
		return fmt.Errorf("workflow: create %s: %w", p.ID, err)
	}
	if !ok {
		return fmt.Errorf("workflow: create %s: %w", p.ID, ErrExists)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	policy := p.Policy
	if policy == "" {
		policy = FailFast
	}
	now := time.Now()
	next := map[string][]string{}
	var roots []string
	queues := map[string]bool{}
	for _, s := range p.Steps {
		for _, a := range s.After {
			next[a] = append(next[a], s.Name)
		}
		if len(s.After) == 0 {
			roots = append(roots, s.Name)
		}
		queues[s.Queue] = true
	}
	_, err = rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.HSet(ctx, k.Meta, "id", p.ID, "home", p.Home, "policy", string(policy), "total", len(p.Steps), "done", 0,
			"created", now.UnixMilli(), "ttl", int64(max(ttl/time.Second, 1)), "trace", p.TraceID)
		pl.ZAdd(ctx, asynqrdb.WorkflowIndex, redis.Z{Score: float64(now.UnixMilli()), Member: p.ID})
		pl.HSet(ctx, asynqrdb.WorkflowHomes, p.ID, p.Home)
		for _, cb := range []struct {
			name string
			s    *PlanStep
		}{{asynqrdb.CallbackOnSuccess, p.OnSuccess}, {asynqrdb.CallbackOnComplete, p.OnComplete}} {
			if cb.s != nil {
				b, _ := json.Marshal(spec{Queue: cb.s.Queue, ID: TaskID(p.ID, cb.name), Nonce: cb.s.Nonce, Delay: int64(cb.s.Delay / time.Second), Index: -1})
				pl.HSet(ctx, k.Spec, cb.name, b)
				pl.HSet(ctx, k.Msg, cb.name, cb.s.Msg)
				queues[cb.s.Queue] = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("workflow: create %s: %w", p.ID, err)
	}
	for q := range queues {
		if err := asynqrdb.PublishQueue(ctx, rdb, q); err != nil {
			return fmt.Errorf("workflow: create %s: %w", p.ID, err)
		}
	}
	for lo := 0; lo < len(p.Steps); lo += chunk {
		part := p.Steps[lo:min(lo+chunk, len(p.Steps))]
		_, err := rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			state := make([]any, 0, 2*len(part))
			specs := make([]any, 0, 2*len(part))
			msgs := make([]any, 0, 2*len(part))
			var after, wait, nexts []any
			for i, s := range part {
				b, _ := json.Marshal(spec{Queue: s.Queue, ID: TaskID(p.ID, s.Name), Nonce: s.Nonce, Delay: int64(s.Delay / time.Second), Index: lo + i})
				state = append(state, s.Name, StepWaiting)
				specs = append(specs, s.Name, b)
				msgs = append(msgs, s.Name, s.Msg)
				if len(s.After) > 0 {
					a, _ := json.Marshal(s.After)
					after = append(after, s.Name, a)
					wait = append(wait, s.Name, len(s.After))
				}
				if n := next[s.Name]; len(n) > 0 {
					b, _ := json.Marshal(n)
					nexts = append(nexts, s.Name, b)
				}
			}
			pl.HSet(ctx, k.State, state...)
			pl.HSet(ctx, k.Spec, specs...)
			pl.HSet(ctx, k.Msg, msgs...)
			if len(after) > 0 {
				pl.HSet(ctx, k.After, after...)
				pl.HSet(ctx, k.Wait, wait...)
			}
			if len(nexts) > 0 {
				pl.HSet(ctx, k.Next, nexts...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("workflow: create %s: store steps: %w", p.ID, err)
		}
	}
	for lo := 0; lo < len(roots); lo += chunk {
		rel, err := asynqrdb.WorkflowStart(ctx, rdb, k, roots[lo:min(lo+chunk, len(roots))])
		if err != nil {
			return fmt.Errorf("workflow: create %s: %w", p.ID, err)
		}
		notify(obs, p.ID, p.TraceID, rel)
	}
	return nil
}

func notify(obs Observer, id, trace string, rel []asynqrdb.Released) {
	if obs == nil {
		return
	}
	for _, r := range rel {
		obs(Event{Kind: EventStepReleased, WorkflowID: id, Step: r.Step, Queue: r.Queue, TaskID: TaskID(id, r.Step), TraceID: trace})
	}
}

// keys finds the keys of workflow id through WorkflowHomes.
func keys(ctx context.Context, rdb redis.UniversalClient, id string) (asynqrdb.WorkflowKeys, error) {
	home, err := rdb.HGet(ctx, asynqrdb.WorkflowHomes, id).Result()
	if errors.Is(err, redis.Nil) {
		return asynqrdb.WorkflowKeys{}, fmt.Errorf("workflow %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return asynqrdb.WorkflowKeys{}, fmt.Errorf("workflow %s: %w", id, err)
	}
	return asynqrdb.NewWorkflowKeys(home, id), nil
}

// Cancel cancels workflow id: the steps not ended are marked cancelled,
// those running are asked to stop, those enqueued and not started are
// deleted (through insp, when not nil and they are at most a thousand;
// more are left to run, their outcome ignored), and the workflow finishes
// as cancelled, firing on_complete. It fails with ErrNotFound or ErrEnded.
func Cancel(ctx context.Context, rdb redis.UniversalClient, insp *asynq.Inspector, id string) error {
	k, err := keys(ctx, rdb, id)
	if err != nil {
		return err
	}
	ok, rel, err := asynqrdb.WorkflowCancel(ctx, rdb, k)
	if err != nil {
		return fmt.Errorf("workflow %s: %w", id, err)
	}
	if !ok {
		if n, _ := rdb.Exists(ctx, k.Meta).Result(); n == 0 {
			return fmt.Errorf("workflow %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("workflow %s: %w", id, ErrEnded)
	}
	if insp != nil && len(rel) <= chunk {
		for _, r := range rel {
			// Only a step that waits is deleted: a running one was asked
			// to stop, and may be archived as cancelled by now.
			info, err := insp.GetTaskInfo(r.Queue, r.Step)
			if err != nil {
				continue
			}
			switch info.State {
			case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
				_ = insp.DeleteTask(r.Queue, r.Step)
			}
		}
	}
	return nil
}
