package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// A chain: fetch, then render with fetch's result, then mail. Each step is
// an ordinary task; the next one is enqueued exactly once, when the one
// before it succeeded.
func ExampleWorkflow_chain() {
	wf := tasks.NewWorkflow()
	wf.Step("fetch", "report:fetch", []byte(`{"day":"2026-12-07"}`))
	wf.Then("render", "report:render", nil)
	wf.Then("mail", "report:mail", nil).Options(tasks.EnqueueOptions{Queue: "low"})
	wf.OnComplete("report:done", nil)
	// With a client: info, err := client.EnqueueWorkflow(ctx, wf)
	fmt.Println(wf.Len(), "steps")
	// Output: 3 steps
}

// A fan-in (a chord): resize every image, then zip them once all are
// resized; zip finds their results in its tuskq-results header.
func ExampleWorkflow_fanIn() {
	wf := tasks.NewWorkflow().Policy(tasks.ContinueOnFailure)
	var parts []string
	for i := range 3 {
		name := fmt.Sprintf("resize-%d", i)
		wf.Step(name, "img:resize", fmt.Appendf(nil, `{"n":%d}`, i))
		parts = append(parts, name)
	}
	wf.Step("zip", "img:zip", nil).After(parts...)
	fmt.Println(wf.Len(), "steps")
	// Output: 4 steps
}

// A step's processor reads the results of the steps it waited for and
// writes its own with the task's ResultWriter.
func ExampleHeaderWorkflowResults() {
	zip := tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
		var results map[string]*string // step name → result (nil: too large to carry, read it with Client.Workflow)
		if err := json.Unmarshal([]byte(t.Headers()[tasks.HeaderWorkflowResults]), &results); err != nil {
			return fmt.Errorf("img:zip: results: %w", err)
		}
		_, err := t.ResultWriter().Write(fmt.Appendf(nil, `{"files":%d}`, len(results)))
		return err
	})
	reg := tasks.NewRegistry()
	if err := reg.Register("img:zip", zip); err != nil {
		log.Fatal(err)
	}
	// Output:
}

// The JSON form, as enqueue --workflow and POST /v1/workflows take it.
func ExampleParseWorkflow() {
	wf, err := tasks.ParseWorkflow([]byte(`{"steps":[
		{"name":"a","task":{"type":"demo:echo","payload":"hi"}},
		{"name":"b","after":["a"],"task":{"type":"demo:echo","queue":"low"}}]}`))
	fmt.Println(wf.Len(), err)
	_, err = tasks.ParseWorkflow([]byte(`{"steps":[{"name":"a","after":["b"],"task":{"type":"demo:echo"}}]}`))
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// invalid workflow:
	// steps[0].after[0]: names no step: "b"; after lists the names of other steps of the workflow
}
