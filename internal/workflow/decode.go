package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tuskq/tuskq/internal/jsonscan"
	"github.com/tuskq/tuskq/internal/taskspec"
)

// Spec is a decoded workflow: its steps as task objects of the one task
// decoder (internal/taskspec), as every door gives them.
type Spec struct {
	// ID is the workflow's ID; empty: a generated one.
	ID string
	// Policy is the failure policy; empty: FailFast.
	Policy Policy
	// Steps are the steps, in the order given.
	Steps []StepSpec
	// OnSuccess and OnComplete are the callbacks; nil: none.
	OnSuccess, OnComplete *taskspec.Task
}

// StepSpec is one step of a Spec.
type StepSpec struct {
	Name  string
	After []string
	Task  taskspec.Task
}

// Example is the shape of the JSON form, for messages and docs.
const Example = `{"policy":"fail_fast","steps":[{"name":"a","task":{"type":"demo:echo"}},{"name":"b","after":["a"],"task":{"type":"demo:echo"}}],"on_complete":{"type":"demo:echo"}}`

// stepOptionFields are the task object fields a step may not have: the
// workflow sets the task ID, a step starts when it is released (delay
// counts from then), and uniqueness would refuse a step the workflow
// needs.
var stepOptionFields = map[string]string{
	taskspec.FieldID:        "the workflow sets a step's task ID (wf:<workflow>:<step>); leave it out",
	taskspec.FieldAt:        "a step starts when the steps it waits for succeed; use delay to wait after that",
	taskspec.FieldUnique:    "a step cannot be unique: a duplicate would stall the workflow; leave it out",
	taskspec.FieldUniqueKey: "a step cannot be unique: a duplicate would stall the workflow; leave it out",
}

// DecodeJSON decodes the JSON form of a workflow (Example) and checks it:
// every task object with the one task decoder (fields named
// steps[3].task.queue), then the graph (Check). Every problem is
// reported at once.
func DecodeJSON(data []byte, now time.Time) (Spec, taskspec.Problems) {
	var ps taskspec.Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, taskspec.Problem{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	var spec Spec
	if len(bytes.TrimSpace(data)) == 0 {
		add("body", "empty; send a workflow such as %s", Example)
		return spec, ps
	}
	if !json.Valid(data) {
		add("body", "%s", taskspec.SyntaxProblem(data))
		return spec, ps
	}
	members, err := jsonscan.Members(data)
	if err != nil {
		add("body", "expected a JSON object such as %s, got %s", Example, jsonscan.Kind(data))
		return spec, ps
	}
	var rawSteps []byte
	seen := map[string]bool{}
	for _, m := range members {
		if seen[m.Name] {
			add(m.Name, "appears twice; give each field once")
			continue
		}
		seen[m.Name] = true
		switch m.Name {
		case FieldID:
			if err := json.Unmarshal(m.Value, &spec.ID); err != nil {
				add(m.Name, "expected a string, got %s", jsonscan.Kind(m.Value))
			} else if msg := CheckName(spec.ID); msg != "" {
				add(m.Name, "%s", msg)
			}
		case FieldPolicy:
			var p string
			if err := json.Unmarshal(m.Value, &p); err != nil {
				add(m.Name, "expected %q or %q, got %s", FailFast, Continue, jsonscan.Kind(m.Value))
			} else if msg := CheckPolicy(Policy(p)); msg != "" {
				add(m.Name, "%s", msg)
			} else {
				spec.Policy = Policy(p)
			}
		case FieldSteps:
			rawSteps = m.Value
		case FieldOnSuccess, FieldOnComplete:
			t, tps := taskspec.DecodeJSON(m.Value, m.Name+".", now)
			ps = append(ps, tps...)
			if m.Name == FieldOnSuccess {
				spec.OnSuccess = &t
			} else {
				spec.OnComplete = &t
			}
		default:
			add(m.Name, "is not a field of a workflow; the fields are id, policy, steps, on_success and on_complete")
		}
	}
	if rawSteps == nil {
		add(FieldSteps, "is missing; list the steps, for example %s", Example)
		return spec, ps
	}
	elems, err := jsonscan.Elements(rawSteps)
	if err != nil {
		add(FieldSteps, "expected an array of steps, got %s", jsonscan.Kind(rawSteps))
		return spec, ps
	}
	nodes := make([]Node, 0, len(elems))
	for i, e := range elems {
		s, sps := decodeStep(e, i, now)
		ps = append(ps, sps...)
		spec.Steps = append(spec.Steps, s)
		nodes = append(nodes, Node{Name: s.Name, After: s.After})
	}
	if len(ps) == 0 {
		ps = append(ps, Check(nodes)...)
	}
	return spec, ps
}

// decodeStep decodes steps[i]: {"name", "after", "task"}.
func decodeStep(data []byte, i int, now time.Time) (StepSpec, taskspec.Problems) {
	var ps taskspec.Problems
	prefix := fmt.Sprintf("steps[%d]", i)
	add := func(field, format string, args ...any) {
		ps = append(ps, taskspec.Problem{Field: prefix + field, Detail: fmt.Sprintf(format, args...)})
	}
	var s StepSpec
	members, err := jsonscan.Members(data)
	if err != nil {
		add("", "expected a step object such as {\"name\":\"a\",\"after\":[],\"task\":{\"type\":\"demo:echo\"}}, got %s", jsonscan.Kind(data))
		return s, ps
	}
	var task []byte
	for _, m := range members {
		switch m.Name {
		case "name":
			if err := json.Unmarshal(m.Value, &s.Name); err != nil {
				add(".name", "expected a string, got %s", jsonscan.Kind(m.Value))
			}
		case "after":
			if err := json.Unmarshal(m.Value, &s.After); err != nil {
				add(".after", "expected an array of step names, got %s", jsonscan.Kind(m.Value))
			}
		case "task":
			task = m.Value
		default:
			add("."+m.Name, "is not a field of a step; the fields are name, after and task")
		}
	}
	if task == nil {
		add(".task", "is missing; give the step's task object, such as {\"type\":\"demo:echo\"}")
		return s, ps
	}
	if tm, err := jsonscan.Members(task); err == nil {
		for _, m := range tm {
			if why, bad := stepOptionFields[m.Name]; bad {
				add(".task."+m.Name, "%s", why)
			}
		}
	}
	t, tps := taskspec.DecodeJSON(task, prefix+".task.", now)
	s.Task = t
	return s, append(ps, tps...)
}
