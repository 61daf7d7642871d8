package native

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/native/sdk"
)

// fake is an in-process sdk.Plugin for testing the instance without
// building a library.
type fake struct {
	validations atomic.Int32
	release     chan struct{} // ProcessTask of "block" waits for it
	started     chan struct{}
}

func (*fake) Name() string        { return "fake" }
func (*fake) Version() string     { return "1" }
func (*fake) Description() string { return "" }
func (f *fake) Validate(cfg map[string]any) error {
	f.validations.Add(1)
	if cfg["bad"] != nil {
		return errors.New("bad is set")
	}
	return nil
}
func (f *fake) ProcessTask(ctx context.Context, t *asynq.Task) error {
	switch string(t.Payload()) {
	case "panic":
		panic("boom")
	case "block":
		close(f.started)
		<-f.release
	}
	sdk.Logger(ctx).InfoContext(ctx, "processed")
	sdk.SetResult(ctx, []byte("cfg="+sdk.Config(ctx)["k"].(string)))
	return nil
}

func newInstance(f *fake) *instance {
	in := &instance{plugin: f, name: "fake", version: "1", logger: slog.New(slog.DiscardHandler)}
	in.valid.cfg, in.valid.ok = map[string]any{"k": "default"}, true
	return in
}

func TestInstanceProcess(t *testing.T) {
	t.Parallel()
	f := &fake{}
	in := newInstance(f)
	ctx := t.Context()
	for range 3 { // an equal configuration (a new map each task) is not validated again
		res, err := in.Process(ctx, asynq.NewTask("t", nil), plugins.Meta{Config: map[string]any{"k": "default"}})
		if err != nil || string(res) != "cfg=default" {
			t.Fatalf("Process = %q, %v", res, err)
		}
	}
	if n := f.validations.Load(); n != 0 {
		t.Fatalf("Validate called %d times for the default configuration; want 0 (Start validated it)", n)
	}
	for range 2 {
		_, err := in.Process(ctx, asynq.NewTask("t", nil), plugins.Meta{Config: map[string]any{"k": "x", "bad": true}})
		if want := "native: configuration rejected by the plugin: Validate: bad is set; fix the override with: worker plugins config fake KEY=VALUE"; !errors.Is(err, ErrConfig) || err.Error() != want {
			t.Fatalf("Process with a rejected config = %v; want %s", err, want)
		}
	}
	if res, err := in.Process(ctx, asynq.NewTask("t", nil), plugins.Meta{Config: map[string]any{"k": "new"}}); err != nil || string(res) != "cfg=new" {
		t.Fatalf("Process after fixing the config = %q, %v", res, err)
	}
	if n := f.validations.Load(); n != 2 {
		t.Fatalf("Validate called %d times; want 2 (once per distinct configuration)", n)
	}
	_, err := in.Process(ctx, asynq.NewTask("t", []byte("panic")), plugins.Meta{Config: map[string]any{"k": "new"}})
	if err == nil || !strings.HasPrefix(err.Error(), "native: panic in ProcessTask: boom\ngoroutine ") {
		t.Fatalf("Process of a panicking task = %v; want the panic with its stack", err)
	}
}

func TestInstanceCloseWaitsForTasks(t *testing.T) {
	t.Parallel()
	f := &fake{release: make(chan struct{}), started: make(chan struct{})}
	in := newInstance(f)
	done := make(chan error, 1)
	go func() {
		_, err := in.Process(t.Context(), asynq.NewTask("t", []byte("block")), plugins.Meta{Config: map[string]any{"k": "default"}})
		done <- err
	}()
	<-f.started
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := in.Close(ctx); err == nil || err.Error() != "native: fake 1: close: tasks still in flight: context deadline exceeded" {
		t.Fatalf("Close with a task in flight = %v; want the deadline error", err)
	}
	if _, err := in.Process(t.Context(), asynq.NewTask("t", nil), plugins.Meta{}); !errors.Is(err, plugins.ErrClosed) {
		t.Fatalf("Process after Close = %v; want ErrClosed", err)
	}
	close(f.release)
	if err := <-done; err != nil {
		t.Fatalf("task in flight = %v; want it to finish", err)
	}
	if err := in.Close(t.Context()); err != nil {
		t.Fatalf("Close after the task finished = %v", err)
	}
}

func TestSDKOutsideATask(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if sdk.Config(ctx) != nil || sdk.SetResult(ctx, []byte("x")) || sdk.Logger(ctx) == nil {
		t.Fatal("sdk helpers outside a task: want nil config, SetResult false, a discarding logger")
	}
}

// BenchmarkInstanceProcess measures what the native runtime adds to a
// task: the configuration check, the sdk context and panic recovery. A
// plugin's ProcessTask is then an ordinary interface call.
func BenchmarkInstanceProcess(b *testing.B) {
	in := newInstance(&fake{})
	task := asynq.NewTask("t", nil)
	ctx := b.Context()
	for b.Loop() {
		// A new, equal map per task, as the Manager merges one per task.
		if _, err := in.Process(ctx, task, plugins.Meta{Config: map[string]any{"k": "default"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectCall is the same work called directly, for comparison.
func BenchmarkDirectCall(b *testing.B) {
	var p sdk.Plugin = &fake{}
	task := asynq.NewTask("t", nil)
	for b.Loop() {
		ctx, _ := sdk.NewContext(b.Context(), map[string]any{"k": "default"}, nil)
		if err := p.ProcessTask(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSameConfig(t *testing.T) {
	t.Parallel()
	base := map[string]any{"s": "x", "n": 1.0, "b": true, "z": nil, "l": []any{"a"}, "m": map[string]any{"k": 1.0}}
	clone := map[string]any{"s": "x", "n": 1.0, "b": true, "z": nil, "l": []any{"a"}, "m": map[string]any{"k": 1.0}}
	if !sameConfig(base, clone) {
		t.Fatal("equal configurations compare different")
	}
	for name, other := range map[string]map[string]any{
		"nil":          nil,
		"missing key":  {"s": "x"},
		"scalar":       {"s": "y", "n": 1.0, "b": true, "z": nil, "l": []any{"a"}, "m": map[string]any{"k": 1.0}},
		"type":         {"s": "x", "n": "1", "b": true, "z": nil, "l": []any{"a"}, "m": map[string]any{"k": 1.0}},
		"nested":       {"s": "x", "n": 1.0, "b": true, "z": nil, "l": []any{"b"}, "m": map[string]any{"k": 1.0}},
		"renamed key":  {"s": "x", "n": 1.0, "b": true, "y": nil, "l": []any{"a"}, "m": map[string]any{"k": 1.0}},
		"map vs slice": {"s": "x", "n": 1.0, "b": true, "z": nil, "l": map[string]any{}, "m": map[string]any{"k": 1.0}},
	} {
		if sameConfig(base, other) {
			t.Errorf("%s: different configurations compare equal", name)
		}
	}
	if !sameConfig(nil, nil) || !sameConfig(map[string]any{}, nil) {
		t.Error("a nil and an empty configuration compare different")
	}
}
