package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/internal/testutil"
)

// wfView is the part of GET /v1/workflows/{id} the tests read.
type wfView struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Total     int    `json:"total"`
	Succeeded int    `json:"succeeded"`
	Finished  string `json:"finished"`
	Steps     []struct {
		Name   string  `json:"name"`
		State  string  `json:"state"`
		TaskID string  `json:"task_id"`
		Result *string `json:"result"`
	} `json:"steps"`
}

// postWorkflow posts body and answers the new workflow's ID.
func (e *apiEnv) postWorkflow(t *testing.T, body string) string {
	t.Helper()
	r := e.do(t, "POST", "/v1/workflows", body)
	var c struct {
		ID string `json:"id"`
	}
	if r.status != 201 || json.Unmarshal([]byte(r.body), &c) != nil || c.ID == "" || r.header.Get("Location") != "/v1/workflows/"+c.ID {
		t.Fatalf("POST /v1/workflows: %d %s", r.status, r.body)
	}
	return c.ID
}

// awaitWorkflow polls GET /v1/workflows/{id} until the workflow ended.
func (e *apiEnv) awaitWorkflow(t *testing.T, id string) wfView {
	t.Helper()
	var v wfView
	testutil.Poll(t, 150*time.Second, "workflow "+id+" ends", func() bool {
		r := e.do(t, "GET", "/v1/workflows/"+id, "")
		if r.status != 200 || json.Unmarshal([]byte(r.body), &v) != nil {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
		return v.Finished != ""
	})
	return v
}

func (v wfView) states() map[string]string {
	m := map[string]string{}
	for _, s := range v.Steps {
		m[s.Name] = s.State
	}
	return m
}

// awaitSeen waits for a processed task of type typ whose header key has
// value val.
func (e *apiEnv) awaitSeen(t *testing.T, typ, key, val string) seen {
	t.Helper()
	deadline := time.After(150 * time.Second)
	for {
		select {
		case s := <-e.tasks:
			if s.typ == typ && s.headers[key] == val {
				return s
			}
		case <-deadline:
			t.Fatalf("no %s task with %s=%s processed", typ, key, val)
		}
	}
}

func TestWorkflowsHTTPDiamond(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	id := e.postWorkflow(t, `{"steps":[
		{"name":"a","task":{"type":"result:json"}},
		{"name":"b","after":["a"],"task":{"type":"result:json"}},
		{"name":"c","after":["a"],"task":{"type":"result:json"}},
		{"name":"d","after":["b","c"],"task":{"type":"demo:echo","payload":"d"}}]}`)
	d := e.awaitSeen(t, "demo:echo", "tuskq-workflow", id)
	var in map[string]string
	if err := json.Unmarshal([]byte(d.headers["tuskq-results"]), &in); err != nil || in["b"] != `{"sent":true}` || in["c"] != `{"sent":true}` || len(in) != 2 {
		t.Errorf("d's tuskq-results header %q: %v", d.headers["tuskq-results"], err)
	}
	v := e.awaitWorkflow(t, id)
	if v.State != "succeeded" || v.Succeeded != 4 {
		t.Fatalf("workflow %+v", v)
	}
	if r := v.Steps[0].Result; r == nil || *r != `{"sent":true}` || v.Steps[0].TaskID != "wf:"+id+":a" {
		t.Errorf("step a: %+v", v.Steps[0])
	}
	if r := e.do(t, "DELETE", "/v1/workflows/"+id, ""); r.status != 409 || !strings.Contains(r.body, "workflow-finished") {
		t.Errorf("DELETE of an ended workflow: %d %s", r.status, r.body)
	}
}

func TestWorkflowsHTTPChord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	var b strings.Builder
	b.WriteString(`{"steps":[`)
	after := make([]string, 1000)
	for i := range after {
		after[i] = fmt.Sprintf(`"p%d"`, i)
		fmt.Fprintf(&b, `{"name":"p%d","task":{"type":"result:json"}},`, i)
	}
	fmt.Fprintf(&b, `{"name":"sum","after":[%s],"task":{"type":"result:json"}}],"on_complete":{"type":"demo:echo"}}`, strings.Join(after, ","))
	id := e.postWorkflow(t, b.String())
	cb := e.awaitSeen(t, "demo:echo", "tuskq-workflow", id)
	var counts map[string]any
	if err := json.Unmarshal([]byte(cb.headers["tuskq-workflow-counts"]), &counts); err != nil || counts["succeeded"] != 1001.0 || counts["state"] != "succeeded" {
		t.Errorf("on_complete counts %q: %v", cb.headers["tuskq-workflow-counts"], err)
	}
	if v := e.awaitWorkflow(t, id); v.State != "succeeded" || v.Succeeded != 1001 {
		t.Errorf("workflow %s: %d of %d", v.State, v.Succeeded, v.Total)
	}
}

func TestWorkflowsHTTPFailurePolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	for policy, want := range map[string]map[string]string{
		"fail_fast": {"a": "succeeded", "b": "failed", "c": "cancelled"},
		"continue":  {"a": "succeeded", "b": "failed", "c": "skipped", "x": "succeeded"},
	} {
		id := e.postWorkflow(t, `{"policy":"`+policy+`","steps":[
			{"name":"a","task":{"type":"result:json"}},
			{"name":"b","after":["a"],"task":{"type":"fail:always","max_retry":0}},
			{"name":"c","after":["b"],"task":{"type":"result:json"}},
			{"name":"x","after":["a"],"task":{"type":"result:json","delay":"2s"}}]}`)
		v := e.awaitWorkflow(t, id)
		got := v.states()
		for k, s := range want {
			if got[k] != s {
				t.Errorf("%s: step %s is %s, want %s (%v)", policy, k, got[k], s, got)
			}
		}
		if v.State != "failed" {
			t.Errorf("%s: workflow %s, want failed", policy, v.State)
		}
	}
}

func TestWorkflowsHTTPCancelAndBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{worker: true})
	id := e.postWorkflow(t, `{"id":"cancel-me","steps":[
		{"name":"slow","task":{"type":"slow:task"}},
		{"name":"next","after":["slow"],"task":{"type":"result:json"}}]}`)
	<-e.started
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	testutil.Poll(t, 30*time.Second, "the worker's cancellation listener", func() bool {
		n, err := rdb.PubSubNumSub(t.Context(), taskcancel.Channel).Result()
		return err == nil && n[taskcancel.Channel] > 0
	})
	r := e.do(t, "DELETE", "/v1/workflows/"+id, "")
	var v wfView
	if r.status != 200 || json.Unmarshal([]byte(r.body), &v) != nil || v.State != "cancelled" || v.states()["next"] != "cancelled" || v.states()["slow"] != "cancelled" {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/workflows", `{"id":"cancel-me","steps":[{"name":"a","task":{"type":"result:json"}}]}`); r.status != 409 || !strings.Contains(r.body, "workflow-exists") {
		t.Errorf("POST with a used id: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/workflows/nope", ""); r.status != 404 {
		t.Errorf("GET of a missing workflow: %d %s", r.status, r.body)
	}
	for body, field := range map[string]string{
		`{"steps":[{"name":"a","after":["zz"],"task":{"type":"x:y"}}]}`:                                                 `"field":"steps[0].after[0]"`,
		`{"steps":[{"name":"a","after":["b"],"task":{"type":"x:y"}},{"name":"b","after":["a"],"task":{"type":"x:y"}}]}`: `"field":"steps[0].after"`,
		`{"steps":[{"name":"a","task":{"type":"x:y"}},{"name":"a","task":{"type":"x:y"}}]}`:                             `"field":"steps[1].name"`,
		`{"steps":[{"name":"a","task":{"type":"x:y","id":"mine"}}]}`:                                                    `"field":"steps[0].task.id"`,
		`{"steps":[{"name":"a","task":{"type":"x:y","max_retry":-1}}]}`:                                                 `"field":"steps[0].task.max_retry"`,
		`{"policy":"maybe","steps":[{"name":"a","task":{"type":"x:y"}}]}`:                                               `"field":"policy"`,
	} {
		if r := e.do(t, "POST", "/v1/workflows", body); r.status != 400 || !strings.Contains(r.body, field) {
			t.Errorf("POST %s: %d %s; want 400 naming %s", body, r.status, r.body, field)
		}
	}
}
