package wasm_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/wasm"
)

// TestMetaReachesTheGuest: every field of the task's meta reaches the Go
// guest through the SDK's own JSON reader.
func TestMetaReachesTheGuest(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "", nil)
	deadline := time.UnixMilli(1700000000123)
	meta := plugins.Meta{TaskID: "t-1", Queue: "critical", Retry: 2, MaxRetry: 7, Deadline: deadline,
		Headers: map[string]string{"x-tenant": "acme \"é\""}, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Config: map[string]any{"greeting": "Hi", "n": 3.0, "list": []any{true, nil}}}
	res, err := inst.Process(t.Context(), asynq.NewTask("probe:meta", nil), meta)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("%s: %v", res, err)
	}
	want := map[string]any{"id": "t-1", "queue": "critical", "retry": 2.0, "max_retry": 7.0, "deadline_ms": float64(deadline.UnixMilli()),
		"headers": map[string]any{"x-tenant": "acme \"é\""}, "traceparent": meta.Traceparent,
		"config": map[string]any{"greeting": "Hi", "n": 3.0, "list": []any{true, nil}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("meta in the guest\n got %v\nwant %v", got, want)
	}
}

// TestInputBuffer: the Go guest's reusable input buffer grows for a large
// payload and is reused for small ones, and a payload the handler keeps
// is not overwritten by the next task's input.
func TestInputBuffer(t *testing.T) {
	t.Parallel()
	inst := startProbe(t, newRuntime(wasm.Options{}), "", nil)
	for _, size := range []int{100, 64 << 10, 10, 1 << 20, 0, 5000} {
		payload := bytes.Repeat([]byte{byte('a' + size%26)}, size)
		res, err := inst.Process(t.Context(), asynq.NewTask("probe:noop", payload), plugins.Meta{Config: map[string]any{"k": "v"}})
		if err != nil || !bytes.Equal(res, payload) {
			t.Fatalf("noop with %d bytes = %d bytes, %v; want the payload back", size, len(res), err)
		}
	}
	if _, err := run(t.Context(), inst, "probe:keep", "first"); err != nil {
		t.Fatal(err)
	}
	if got, err := run(t.Context(), inst, "probe:keep", "XXXXXsecond"); err != nil || got != "first" {
		t.Fatalf("kept payload = %q, %v; want first (the next task's input overwrote it)", got, err)
	}
}
