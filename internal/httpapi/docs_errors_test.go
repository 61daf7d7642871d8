package httpapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDocsErrorExample sends the request of docs/api.md's "Errors"
// section, a bad delay and an unknown queue, and expects the answer the
// page shows: every problem of the request at once.
func TestDocsErrorExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Errors\n")
	if !ok {
		t.Fatal(`docs/api.md has no "## Errors" section`)
	}
	_, block, ok := strings.Cut(section, "```json\n")
	if !ok {
		t.Fatal(`the "Errors" section has no JSON example`)
	}
	block, _, _ = strings.Cut(block, "```")
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(block)); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	e := newEnv(t, envOptions{})
	r := e.do(t, "POST", "/v1/tasks", `{"type":"email:send","delay":"soon","queue":"critcal"}`)
	if r.status != 400 || strings.TrimSpace(r.body) != want.String() {
		t.Errorf("the server answers\n%d %s\ndocs/api.md shows\n%s", r.status, r.body, want.String())
	}
}

// TestBatchTaskEveryProblem: a task of a batch reports its every problem
// at once too, each named with the task's index.
func TestBatchTaskEveryProblem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do(t, "POST", "/v1/tasks/batch", `{"tasks":[{"type":"a:b","queue":"low"},{"type":"a:b","max_retry":4294967296,"queue":"critcal","headers":{"queue":1}}]}`)
	want := `{"index":1,"status":400,"error":` + strings.TrimSpace(bad400(
		fe("tasks[1].max_retry", "4294967296 is more than 2147483647 (asynq stores 32 bits); expected a whole number from 0 to 2147483647"),
		fe("tasks[1].headers.queue", "expected a string, got a number"),
		fe("tasks[1].queue", `unknown queue "critcal"; known queues: critical, default, low (worker.queues, route queues and queues of running workers)`))) + `}`
	if r.status != 200 || !strings.Contains(r.body, `"enqueued":1,"failed":1`) || !strings.Contains(r.body, want) {
		t.Errorf("%d %s\nwant a result %s", r.status, r.body, want)
	}
}
