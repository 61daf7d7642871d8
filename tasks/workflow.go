package tasks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/internal/workflow"
)

// Workflow is a set of named steps, each an ordinary task, that wait for
// one another: a step runs once every step of its After list succeeded,
// and finds their results in its HeaderWorkflowResults header. Build one
// with NewWorkflow, Step, Then and After, and enqueue it with
// Client.EnqueueWorkflow. A Workflow is not safe for concurrent use.
//
// A chain:
//
//	wf := tasks.NewWorkflow()
//	wf.Step("fetch", "report:fetch", payload)
//	wf.Then("render", "report:render", nil)
//	wf.Then("mail", "report:mail", nil)
//
// A fan-in (a chord): many steps, then one step after all of them:
//
//	wf.Step("zip", "img:zip", nil).After(parts...)
//
// See docs/workflows.md for the guarantees.
type Workflow struct {
	id         string
	policy     WorkflowPolicy
	steps      []*WorkflowStep
	onSuccess  *WorkflowStep
	onComplete *WorkflowStep
}

// WorkflowStep is one step of a Workflow (or a callback), returned by the
// builder so that its After list and options can be set.
type WorkflowStep struct {
	name    string
	typ     string
	payload []byte
	opts    EnqueueOptions
	after   []string
}

// WorkflowPolicy is what a step that fails for good does to the rest.
type WorkflowPolicy = workflow.Policy

// Failure policies of a Workflow.
const (
	// FailFast (the default): a failed step cancels every step not ended
	// and the workflow fails.
	FailFast = workflow.FailFast
	// ContinueOnFailure: the steps depending on a failed step are skipped,
	// the others still run.
	ContinueOnFailure = workflow.Continue
)

// Headers of a workflow's tasks.
const (
	// HeaderWorkflow holds the workflow ID on every step and callback.
	HeaderWorkflow = workflow.HeaderWorkflow
	// HeaderWorkflowStep holds the step's name.
	HeaderWorkflowStep = workflow.HeaderStep
	// HeaderWorkflowResults holds the results of the steps a step waited
	// for: a JSON object of step name to result (a string), at most 64 KiB;
	// results that do not fit are null or left out (read them with
	// Client.Workflow). A step sets its result with
	// t.ResultWriter().Write.
	HeaderWorkflowResults = workflow.HeaderResults
	// HeaderWorkflowCounts holds, on the on_complete callback, a JSON
	// object with the workflow's state and its total, succeeded, failed,
	// cancelled and skipped steps.
	HeaderWorkflowCounts = workflow.HeaderCounts
)

// WorkflowState is a workflow's state and every step's, from
// Client.Workflow.
type WorkflowState = workflow.State

// WorkflowStepState is one step's state in a WorkflowState.
type WorkflowStepState = workflow.Step

// WorkflowSummary is a workflow's state without its steps.
type WorkflowSummary = workflow.Summary

// Errors of workflows.
var (
	// ErrWorkflowNotFound: no workflow has the ID, or its state expired.
	ErrWorkflowNotFound = workflow.ErrNotFound
	// ErrWorkflowExists: a workflow with the ID exists already.
	ErrWorkflowExists = workflow.ErrExists
	// ErrWorkflowEnded: the workflow had ended before the cancellation.
	ErrWorkflowEnded = workflow.ErrEnded
	// ErrInvalidWorkflow is wrapped by the error of a workflow whose
	// graph or steps are invalid; the message names each problem.
	ErrInvalidWorkflow = workflow.ErrInvalid
)

// NewWorkflow returns an empty workflow with a generated ID and the
// FailFast policy.
func NewWorkflow() *Workflow { return &Workflow{} }

// ID sets the workflow's ID (letters, digits, '_', '-', '.', ':'; at most
// 100 bytes); it must be unused. It returns w.
func (w *Workflow) ID(id string) *Workflow { w.id = id; return w }

// Policy sets the failure policy; it returns w.
func (w *Workflow) Policy(p WorkflowPolicy) *Workflow { w.policy = p; return w }

// Step adds a step named name running a task of taskType with payload.
// Set what it waits for with After, its options with Options.
func (w *Workflow) Step(name, taskType string, payload []byte) *WorkflowStep {
	s := &WorkflowStep{name: name, typ: taskType, payload: payload}
	w.steps = append(w.steps, s)
	return s
}

// Then adds a step that waits for the step added before it (a chain).
func (w *Workflow) Then(name, taskType string, payload []byte) *WorkflowStep {
	var prev string
	if len(w.steps) > 0 {
		prev = w.steps[len(w.steps)-1].name
	}
	s := w.Step(name, taskType, payload)
	if prev != "" {
		s.after = []string{prev}
	}
	return s
}

// OnSuccess sets the task enqueued once when every step succeeded.
func (w *Workflow) OnSuccess(taskType string, payload []byte) *WorkflowStep {
	w.onSuccess = &WorkflowStep{typ: taskType, payload: payload}
	return w.onSuccess
}

// OnComplete sets the task enqueued once when every step ended, however:
// its HeaderWorkflowCounts header says how many succeeded, failed, were
// cancelled or skipped.
func (w *Workflow) OnComplete(taskType string, payload []byte) *WorkflowStep {
	w.onComplete = &WorkflowStep{typ: taskType, payload: payload}
	return w.onComplete
}

// Len is the number of steps.
func (w *Workflow) Len() int { return len(w.steps) }

// After makes the step wait for the named steps (added to those given
// before); it returns s.
func (s *WorkflowStep) After(names ...string) *WorkflowStep {
	s.after = append(s.after, names...)
	return s
}

// Options sets the step's task options (queue, retries, timeout, delay
// counted from the release, headers...); TaskID, ProcessAt and uniqueness
// are refused: the workflow sets the task ID (wf:<workflow>:<step>). It
// returns s.
func (s *WorkflowStep) Options(o EnqueueOptions) *WorkflowStep {
	s.opts = o
	return s
}

// WorkflowInfo is what EnqueueWorkflow returns.
type WorkflowInfo struct {
	// ID is the workflow's ID.
	ID string
	// TraceID is the trace all its steps share.
	TraceID string
	// Steps is the number of steps.
	Steps int
}

// EnqueueWorkflow stores w and enqueues its first steps (those waiting for
// none). Each step is an ordinary task with the ID wf:<workflow>:<step>,
// checked and routed as Enqueue checks and routes a task; all share one
// trace (ctx's, or a new one). Problems are reported all at once in an
// error wrapping ErrInvalidWorkflow (or ErrBadOptions for a step's
// options); an ID in use fails with ErrWorkflowExists.
func (c *Client) EnqueueWorkflow(ctx context.Context, w *Workflow) (*WorkflowInfo, error) {
	if w == nil {
		return nil, fmt.Errorf("tasks: enqueue workflow: %w: nil workflow", ErrInvalidWorkflow)
	}
	nodes := make([]workflow.Node, len(w.steps))
	for i, s := range w.steps {
		nodes[i] = workflow.Node{Name: s.name, After: s.after}
	}
	probs := workflow.Check(nodes)
	if msg := workflow.CheckPolicy(w.policy); msg != "" {
		probs = append(probs, taskspec.Problem{Field: workflow.FieldPolicy, Detail: msg})
	}
	id := w.id
	if id == "" {
		id = newUUID(cryptoRand)
	} else if msg := workflow.CheckName(id); msg != "" {
		probs = append(probs, taskspec.Problem{Field: workflow.FieldID, Detail: msg})
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("tasks: enqueue workflow: %w:\n%w", ErrInvalidWorkflow, probs)
	}
	ctx, sc := ensureTrace(ctx, cryptoRand)
	now := time.Now()
	plan := workflow.Plan{ID: id, Policy: w.policy, TTL: c.workflowTTL, TraceID: sc.TraceID().String()}
	var errs []error
	lay := func(field, name string, s *WorkflowStep) *workflow.PlanStep {
		p, err := c.planStep(ctx, id, name, s, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
			return nil
		}
		return p
	}
	for i, s := range w.steps {
		if p := lay(fmt.Sprintf("steps[%d] (%s)", i, s.name), s.name, s); p != nil {
			plan.Steps = append(plan.Steps, *p)
		}
	}
	if w.onSuccess != nil {
		plan.OnSuccess = lay(workflow.FieldOnSuccess, asynqrdb.CallbackOnSuccess, w.onSuccess)
	}
	if w.onComplete != nil {
		plan.OnComplete = lay(workflow.FieldOnComplete, asynqrdb.CallbackOnComplete, w.onComplete)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("tasks: enqueue workflow: %w", errors.Join(errs...))
	}
	plan.Home = plan.Steps[0].Queue
	if c.cluster {
		for i, s := range plan.Steps {
			if s.Queue != plan.Home {
				return nil, fmt.Errorf("tasks: enqueue workflow: %w: steps[%d].task.queue: %q differs from the first step's %q; on Redis Cluster all steps and callbacks of a workflow share one queue", ErrInvalidWorkflow, i, s.Queue, plan.Home)
			}
		}
		for _, cb := range []*workflow.PlanStep{plan.OnSuccess, plan.OnComplete} {
			if cb != nil && cb.Queue != plan.Home {
				return nil, fmt.Errorf("tasks: enqueue workflow: %w: callback queue %q differs from the first step's %q; on Redis Cluster all steps and callbacks of a workflow share one queue", ErrInvalidWorkflow, cb.Queue, plan.Home)
			}
		}
	}
	if err := workflow.Create(ctx, c.rdb, plan, nil); err != nil {
		return nil, fmt.Errorf("tasks: enqueue workflow: %w", err)
	}
	return &WorkflowInfo{ID: id, TraceID: plan.TraceID, Steps: len(plan.Steps)}, nil
}

// planStep lays out one step (or callback) of workflow id.
func (c *Client) planStep(ctx context.Context, id, name string, s *WorkflowStep, now time.Time) (*workflow.PlanStep, error) {
	o := s.opts
	var refused []string
	if o.TaskID != "" {
		refused = append(refused, "TaskID (the workflow sets it)")
	}
	if !o.ProcessAt.IsZero() {
		refused = append(refused, "ProcessAt (use ProcessIn, counted from the release)")
	}
	if o.UniqueTTL != 0 || o.UniqueKey != "" || o.UniqueUntilEnd {
		refused = append(refused, "uniqueness (a duplicate would stall the workflow)")
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("%w: a workflow step cannot have %s", ErrBadOptions, strings.Join(refused, ", "))
	}
	o.Headers = make(map[string]string, len(s.opts.Headers)+2)
	for k, v := range s.opts.Headers {
		o.Headers[k] = v
	}
	o.Headers[workflow.HeaderWorkflow] = id
	if name[0] != '~' {
		o.Headers[workflow.HeaderStep] = name
	}
	r, err := c.prepare(ctx, s.typ, s.payload, &o, cryptoRand)
	if err != nil {
		return nil, err
	}
	// Routes may make a task unique; a step cannot be.
	r.uniqueTTL, r.uniqueKey, r.untilEnd = 0, "", false
	r.processIn, r.processAt = 0, time.Time{}
	r.taskID = workflow.TaskID(id, name)
	wt := r.wire(now, cryptoRand)
	if r.span != nil {
		r.span.End()
	}
	return &workflow.PlanStep{
		Name: name, After: s.after, Queue: wt.Info.Queue, Msg: wt.Args[3].([]byte), Nonce: wt.Args[1].(string),
		Delay: o.ProcessIn.Truncate(time.Second),
	}, nil
}

// Workflow reads workflow id: its state and every step's state and
// result. It fails with ErrWorkflowNotFound.
func (c *Client) Workflow(ctx context.Context, id string) (*WorkflowState, error) {
	st, err := workflow.Get(ctx, c.rdb, id)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return st, nil
}

// Workflows lists the latest workflows, newest first, at most limit.
func (c *Client) Workflows(ctx context.Context, limit int) ([]WorkflowSummary, error) {
	l, err := workflow.List(ctx, c.rdb, limit)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return l, nil
}

// CancelWorkflow cancels what has not ended of workflow id: steps waiting
// are never enqueued, steps enqueued are deleted, steps running are asked
// to stop (as a task cancelled on request), and the workflow ends as
// cancelled (on_complete fires). It fails with ErrWorkflowNotFound or
// ErrWorkflowEnded.
func (c *Client) CancelWorkflow(ctx context.Context, id string) error {
	if err := workflow.Cancel(ctx, c.rdb, c.insp, id); err != nil {
		return fmt.Errorf("tasks: %w", err)
	}
	return nil
}

// WorkflowEvent is something a workflow did, as a worker saw it (see
// worker.Options.WorkflowObserver): Kind is WorkflowStepReleased (Step,
// Queue and TaskID name the step) or WorkflowFinished.
type WorkflowEvent = workflow.Event

// Kinds of WorkflowEvent.
const (
	WorkflowStepReleased = workflow.EventStepReleased
	WorkflowFinished     = workflow.EventFinished
)

// ParseWorkflow decodes the JSON form of a workflow (docs/workflows.md),
// the one the enqueue CLI's --workflow and POST /v1/workflows take: each
// step's task is a task object as everywhere else. Every problem is
// reported at once, naming its field (steps[2].after[0]), in an error
// wrapping ErrInvalidWorkflow and a taskspec.Problems.
func ParseWorkflow(data []byte) (*Workflow, error) {
	spec, probs := workflow.DecodeJSON(data, time.Now())
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidWorkflow, probs)
	}
	w := NewWorkflow().ID(spec.ID).Policy(spec.Policy)
	for _, s := range spec.Steps {
		w.Step(s.Name, s.Task.Type, s.Task.Payload).After(s.After...).Options(EnqueueOptions(s.Task.Options))
	}
	if t := spec.OnSuccess; t != nil {
		w.OnSuccess(t.Type, t.Payload).Options(EnqueueOptions(t.Options))
	}
	if t := spec.OnComplete; t != nil {
		w.OnComplete(t.Type, t.Payload).Options(EnqueueOptions(t.Options))
	}
	return w, nil
}

// Tasks calls f for each step and callback of w with its name ("" for a
// callback), type and options, in order; the doors use it to check
// a caller's scope before enqueueing.
func (w *Workflow) Tasks(f func(name, taskType string, opts EnqueueOptions)) {
	for _, s := range w.steps {
		f(s.name, s.typ, s.opts)
	}
	for _, s := range []*WorkflowStep{w.onSuccess, w.onComplete} {
		if s != nil {
			f("", s.typ, s.opts)
		}
	}
}
