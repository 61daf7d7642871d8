package plugins

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// ProcessTask runs t on the version that serves its type now. It
// implements tasks.Processor for the bindings Resolve returns.
func (b *binding) ProcessTask(ctx context.Context, t *asynq.Task) error {
	m := b.mgr
	for {
		cur := m.table.Load().types[b.tt.Name]
		switch {
		case cur == nil:
			return fmt.Errorf("plugins: %w %q: its plugin was removed", tasks.ErrNoProcessor, b.tt.Name)
		case cur.v == nil:
			return fmt.Errorf("plugins: %s: %w: %w", cur.plugin, ErrNotLoaded, cur.err)
		case m.opts.State != nil && !m.opts.State.Enabled(cur.plugin):
			return fmt.Errorf("plugins: %s: %w fleet-wide; the task waits and runs once it is enabled", cur.plugin, ErrDisabled)
		}
		if !cur.v.acquire() {
			continue // replaced since the table was read: read it again
		}
		err := cur.run(ctx, t)
		cur.v.inflight.Done()
		return err
	}
}

// run validates the payload and hands t to the version's instance.
func (b *binding) run(ctx context.Context, t *asynq.Task) error {
	v := b.v
	if b.tt.Schema != nil {
		if err := b.tt.Schema.Validate(t.Payload()); err != nil {
			return fmt.Errorf("plugins: %s %s: %w: %w (%w)", v.m.Name, v.m.Version, ErrSchema, err, asynq.SkipRetry)
		}
	}
	if d := v.m.TypeTimeout(b.tt); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	meta := Meta{Headers: t.Headers(), Config: v.m.Config}
	meta.TaskID, _ = asynq.GetTaskID(ctx)
	meta.Queue, _ = asynq.GetQueueName(ctx)
	meta.Retry, _ = asynq.GetRetryCount(ctx)
	meta.MaxRetry, _ = asynq.GetMaxRetry(ctx)
	if dl, ok := ctx.Deadline(); ok {
		meta.Deadline = dl
	}
	if meta.Headers != nil {
		meta.Traceparent = meta.Headers[tasks.HeaderTraceparent]
	}
	if st := b.mgr.opts.State; st != nil {
		meta.Config = mergeConfig(v.m.Config, st.Config(v.m.Name))
	}
	result, err := v.inst.Process(ctx, t, meta)
	if err != nil {
		return fmt.Errorf("plugin %s %s: %w", v.m.Name, v.m.Version, err)
	}
	if len(result) > 0 {
		if w := t.ResultWriter(); w != nil {
			if _, err := w.Write(result); err != nil {
				return fmt.Errorf("plugin %s %s: write the task result: %w", v.m.Name, v.m.Version, err)
			}
		}
	}
	return nil
}
