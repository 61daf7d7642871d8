package workflow_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/workflow"
)

func TestCheckNamesTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		nodes []workflow.Node
		field string
		words string
	}{
		{"unknown after", []workflow.Node{{Name: "fetch"}, {Name: "b", After: []string{"fecth"}}}, "steps[1].after[0]", `did you mean "fetch"`},
		{"duplicate name", []workflow.Node{{Name: "a"}, {Name: "a"}}, "steps[1].name", "steps[0] too"},
		{"self", []workflow.Node{{Name: "a", After: []string{"a"}}}, "steps[0].after[0]", "waits for itself"},
		{"twice", []workflow.Node{{Name: "a"}, {Name: "b", After: []string{"a", "a"}}}, "steps[1].after[1]", "twice"},
		{"cycle", []workflow.Node{{Name: "r"}, {Name: "a", After: []string{"r", "c"}}, {Name: "b", After: []string{"a"}}, {Name: "c", After: []string{"b"}}}, "after", "cycle"},
		{"bad name", []workflow.Node{{Name: "a b"}}, "steps[0].name", "character"},
		{"empty", nil, "steps", "at least one step"},
	} {
		ps := workflow.Check(tc.nodes)
		if len(ps) != 1 || !strings.HasSuffix(ps[0].Field, tc.field) || !strings.Contains(ps[0].Detail, tc.words) {
			t.Errorf("%s: %v; want one problem of %s saying %q", tc.name, ps, tc.field, tc.words)
		}
	}
	if ps := workflow.Check([]workflow.Node{{Name: "d", After: []string{"b", "c"}}, {Name: "b", After: []string{"a"}}, {Name: "c", After: []string{"a"}}, {Name: "a"}}); len(ps) != 0 {
		t.Errorf("a diamond given out of order: %v", ps)
	}
}

func TestCycleNamed(t *testing.T) {
	t.Parallel()
	ps := workflow.Check([]workflow.Node{{Name: "a", After: []string{"c"}}, {Name: "b", After: []string{"a"}}, {Name: "c", After: []string{"b"}}})
	if len(ps) != 1 || !strings.Contains(ps[0].Detail, "→") {
		t.Fatalf("%v", ps)
	}
	// Every name of the cycle is in the message.
	for _, n := range []string{"a", "b", "c"} {
		if !strings.Contains(ps[0].Detail, n) {
			t.Errorf("cycle message %q lacks %s", ps[0].Detail, n)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	spec, ps := workflow.DecodeJSON([]byte(workflow.Example), time.Now())
	if len(ps) != 0 || len(spec.Steps) != 2 || spec.Steps[1].After[0] != "a" || spec.OnComplete == nil || spec.Policy != workflow.FailFast {
		t.Fatalf("example: %+v %v", spec, ps)
	}
	for body, field := range map[string]string{
		``:                         "body",
		`[]`:                       "body",
		`{"steps":3}`:              "steps",
		`{"stepz":[]}`:             "stepz",
		`{"steps":[{"name":"a"}]}`: "steps[0].task",
		`{"steps":[{"name":"a","task":{"type":"x:y","unique":"1h"}}]}`:            "steps[0].task.unique",
		`{"steps":[{"name":"a","task":{"type":"x:y","colour":"red"}}]}`:           "steps[0].task.colour",
		`{"steps":[{"name":"a","task":{"type":"x:y"}}],"on_success":{"type":""}}`: "on_success.type",
		`{"id":"has space","steps":[{"name":"a","task":{"type":"x:y"}}]}`:         "id",
	} {
		_, ps := workflow.DecodeJSON([]byte(body), time.Now())
		if !ps.Has(field) {
			t.Errorf("%s: %v; want a problem of %s", body, ps, field)
		}
	}
}
