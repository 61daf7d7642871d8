package tasks

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/taskspec"
)

// Processor processes tasks of the types it is registered for. It has the
// same shape as asynq.Handler, so an asynq handler is a Processor.
//
// A nil error marks the task done. Any other error fails the attempt: the task
// is retried with backoff until its MaxRetry is used up, then archived. Wrap
// asynq.SkipRetry in the error to archive at once.
type Processor interface {
	ProcessTask(ctx context.Context, t *asynq.Task) error
}

// ProcessorFunc adapts a function to a Processor.
type ProcessorFunc func(ctx context.Context, t *asynq.Task) error

// ProcessTask calls f(ctx, t).
func (f ProcessorFunc) ProcessTask(ctx context.Context, t *asynq.Task) error { return f(ctx, t) }

// Resolver finds a processor for task types that no compiled-in processor
// claims, for example one loaded from a plugin. It is consulted on every task
// of an unregistered type, so it must be safe for concurrent use.
type Resolver interface {
	Resolve(taskType string) (Processor, bool)
}

var (
	// ErrNoProcessor is wrapped by the error of a task whose type has no
	// processor. The task follows the normal retry and archive path.
	ErrNoProcessor = errors.New("no processor registered for task type")
	// ErrDuplicateType is returned when a task type is registered twice.
	ErrDuplicateType = errors.New("task type already registered")
	// ErrInvalidType is returned for a task type that cannot be registered.
	ErrInvalidType = errors.New("invalid task type")
)

// MaxTypeLength is the longest task type accepted by ValidateType.
const MaxTypeLength = taskspec.MaxTypeLength

// ValidateType reports whether s can name a task type: 1 to MaxTypeLength
// bytes of printable UTF-8 without spaces or '*' (reserved for route
// patterns). Invalid UTF-8 is refused. By convention types are
// "noun:verb" such as "email:send". The enqueue CLI and the HTTP API apply
// the same check.
func ValidateType(s string) error {
	if msg := taskspec.CheckType(s); msg != "" {
		return fmt.Errorf("%w: %s", ErrInvalidType, msg)
	}
	return nil
}

// Registry maps task types to processors. It is the asynq.Handler a worker
// serves: each task is dispatched by its type to the registered processor,
// then to the resolver, and fails with ErrNoProcessor when neither has one.
// A Registry is safe for concurrent use; registering while serving is allowed.
type Registry struct {
	mu       sync.RWMutex
	procs    map[string]Processor
	resolver Resolver
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{procs: make(map[string]Processor)}
}

// Register adds p as the processor of taskType. It fails with ErrInvalidType
// or ErrDuplicateType.
func (r *Registry) Register(taskType string, p Processor) error {
	if err := ValidateType(taskType); err != nil {
		return fmt.Errorf("tasks: register: %w", err)
	}
	if p == nil {
		return fmt.Errorf("tasks: register %q: processor is nil", taskType)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.procs[taskType]; ok {
		return fmt.Errorf("tasks: register %q: %w", taskType, ErrDuplicateType)
	}
	r.procs[taskType] = p
	return nil
}

// RegisterFunc is Register for a plain function.
func (r *Registry) RegisterFunc(taskType string, f func(context.Context, *asynq.Task) error) error {
	return r.Register(taskType, ProcessorFunc(f))
}

// MustRegister is Register that panics on error, for start-up code where a
// bad registration is a programming mistake.
func (r *Registry) MustRegister(taskType string, p Processor) {
	if err := r.Register(taskType, p); err != nil {
		panic(err)
	}
}

// SetResolver installs the fallback consulted for unregistered types.
func (r *Registry) SetResolver(res Resolver) {
	r.mu.Lock()
	r.resolver = res
	r.mu.Unlock()
}

// Lookup returns the processor of taskType: the registered one, else the
// resolver's.
func (r *Registry) Lookup(taskType string) (Processor, bool) {
	r.mu.RLock()
	p, ok := r.procs[taskType]
	res := r.resolver
	r.mu.RUnlock()
	if ok {
		return p, true
	}
	if res != nil {
		return res.Resolve(taskType)
	}
	return nil, false
}

// Registered reports whether taskType has a compiled-in processor.
func (r *Registry) Registered(taskType string) bool {
	r.mu.RLock()
	_, ok := r.procs[taskType]
	r.mu.RUnlock()
	return ok
}

// Types returns the registered task types in sorted order.
func (r *Registry) Types() []string {
	r.mu.RLock()
	types := make([]string, 0, len(r.procs))
	for t := range r.procs {
		types = append(types, t)
	}
	r.mu.RUnlock()
	sort.Strings(types)
	return types
}

// ProcessTask dispatches t to the processor of its type. A type without a
// processor fails with an error wrapping ErrNoProcessor that names the type;
// the task is retried and, when its retries run out, archived with that
// error, so a worker deployed before the processor that handles it loses
// nothing.
func (r *Registry) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, ok := r.Lookup(t.Type())
	if !ok {
		return fmt.Errorf("tasks: %w %q (registered: %s)", ErrNoProcessor, t.Type(), r.summary())
	}
	return p.ProcessTask(ctx, t)
}

func (r *Registry) summary() string {
	types := r.Types()
	if len(types) > 8 {
		return strings.Join(types[:8], ", ") + fmt.Sprintf(" and %d more", len(types)-8)
	}
	if len(types) == 0 {
		return "none"
	}
	return strings.Join(types, ", ")
}
