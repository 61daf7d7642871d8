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
