package processors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// sleepPayload is the payload of demo:sleep.
type sleepPayload struct {
	MS       *int64  `json:"ms"`
	Duration *string `json:"duration"`
}

const sleepFields = `"ms" (milliseconds) or "duration" (such as "250ms")`

// decodeSleep returns the sleep time of a demo:sleep payload.
func decodeSleep(payload []byte) (time.Duration, error) {
	var p sleepPayload
	if err := decodeStrict(TypeSleep, payload, &p, sleepFields); err != nil {
		return 0, err
	}
	switch {
	case p.MS != nil && p.Duration != nil:
		return 0, badPayload(TypeSleep, `both "ms" and "duration" are set; set one of them`)
	case p.MS != nil:
		const maxMS = int64(time.Duration(1<<63-1) / time.Millisecond)
		if *p.MS < 0 || *p.MS > maxMS {
			return 0, badPayload(TypeSleep, `field "ms": %d is out of range; want 0 to %d milliseconds`, *p.MS, maxMS)
		}
		return time.Duration(*p.MS) * time.Millisecond, nil
	case p.Duration != nil:
		d, err := time.ParseDuration(*p.Duration)
		if err != nil {
			return 0, badPayload(TypeSleep, `field "duration": %q is not a duration; use a Go duration such as "250ms" or "2s"`, *p.Duration)
		}
		if d < 0 {
			return 0, badPayload(TypeSleep, `field "duration": %q is negative; want 0 or more`, *p.Duration)
		}
		return d, nil
	}
	return 0, badPayload(TypeSleep, "set %s", sleepFields)
}

// sleepProcessor is demo:sleep: it sleeps for the payload's time or until
// ctx ends.
type sleepProcessor struct {
	logger *slog.Logger
}

// ProcessTask sleeps. When ctx ends first (task timeout, worker shutdown) it
// returns an error wrapping ctx.Err(), so asynq retries the task or hands it
// back to Redis.
func (p *sleepProcessor) ProcessTask(ctx context.Context, t *asynq.Task) error {
	d, err := decodeSleep(t.Payload())
	if err != nil {
		return err
	}
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		p.logger.DebugContext(ctx, "demo:sleep finished", "slept_ms", d.Milliseconds())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("demo:sleep: interrupted after %s of %s: %w",
			time.Since(start).Round(time.Millisecond), d, ctx.Err())
	}
}

// processEcho is demo:echo: it writes the payload back as the task's result.
// A task called outside a worker (no result writer) succeeds without writing.
func processEcho(ctx context.Context, t *asynq.Task) error {
	w := t.ResultWriter()
	if w == nil {
		return nil
	}
	if _, err := w.Write(t.Payload()); err != nil {
		return fmt.Errorf("demo:echo: write result: %w", err)
	}
	return nil
}

// failPayload is the payload of demo:fail.
type failPayload struct {
	Times     *int `json:"times"`
	SkipRetry bool `json:"skip_retry"`
}

const failFields = `"times" (failures before success, -1 for always) and "skip_retry"`

// processFail is demo:fail: it fails the first "times" attempts and then
// succeeds, always fails for times -1, and fails without retry for
// skip_retry.
func processFail(ctx context.Context, t *asynq.Task) error {
	var p failPayload
	if err := decodeStrict(TypeFail, t.Payload(), &p, failFields); err != nil {
		return err
	}
	if p.SkipRetry {
		if p.Times != nil {
			return badPayload(TypeFail, `both "times" and "skip_retry" are set; set one of them`)
		}
		return permanent(ErrPlannedFailure, "demo:fail: planned failure, not retried (skip_retry)")
	}
	if p.Times == nil {
		return badPayload(TypeFail, `set "times" (failures before success, -1 for always) or "skip_retry": true`)
	}
	if *p.Times < -1 {
		return badPayload(TypeFail, `field "times": %d is out of range; want -1 (always fail) or 0 and more`, *p.Times)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	attempt := retried + 1
	switch {
	case *p.Times == -1:
		return tagged(fmt.Sprintf("demo:fail: planned failure %d of unlimited (times is -1)", attempt), ErrPlannedFailure)
	case retried < *p.Times:
		return tagged(fmt.Sprintf("demo:fail: planned failure %d of %d", attempt, *p.Times), ErrPlannedFailure)
	}
	return nil
}
