package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSchedules: add, read, list, pause, resume, replace and remove a
// schedule; bad input is a problem naming the field; a token scoped to
// queues and types sees and changes only the schedules in its scope.
func TestSchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: withTokens})
	ops := []string{"Authorization", "Bearer " + tokenAll}
	mailer := []string{"Authorization", "Bearer " + tokenLimited}

	r := e.do(t, "PUT", "/v1/schedules/digest", `{"cron":"0 0 8 * * *","type":"email:digest","queue":"low","missed":"once"}`, mailer...)
	if r.status != 201 || !strings.Contains(r.body, `"name":"digest"`) || !strings.Contains(r.body, `"source":"api"`) ||
		!strings.Contains(r.body, `"missed":"once"`) || !strings.Contains(r.body, `"next":"`) {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := e.do(t, "PUT", "/v1/schedules/digest", `{"cron":"0 0 9 * * *","type":"email:digest","queue":"low"}`, mailer...); r.status != 200 || !strings.Contains(r.body, `"cron":"0 0 9 * * *"`) {
		t.Fatalf("PUT again: %d %s", r.status, r.body)
	}
	if r := e.do(t, "PUT", "/v1/schedules/reports", `{"cron":"@hourly","type":"report:build","queue":"default"}`, ops...); r.status != 201 {
		t.Fatalf("PUT reports: %d %s", r.status, r.body)
	}
	// Bad input names the field.
	r = e.do(t, "PUT", "/v1/schedules/bad", `{"cron":"@every 0.5s","type":"email:x","queue":"low","delay":"1s"}`, ops...)
	if r.status != 400 || !strings.Contains(r.body, `"field":"cron"`) || !strings.Contains(r.body, `"field":"delay"`) ||
		!strings.Contains(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("bad PUT: %d %s", r.status, r.body)
	}
	if r := e.do(t, "PUT", "/v1/schedules/a:b", `{"cron":"@hourly","type":"email:x","queue":"low"}`, ops...); r.status != 400 || !strings.Contains(r.body, `"field":"name"`) {
		t.Fatalf("bad name: %d %s", r.status, r.body)
	}
	// Scope: the mailer may not add a schedule outside its queues, and
	// does not see the ops schedule.
	if r := e.do(t, "PUT", "/v1/schedules/sneaky", `{"cron":"@hourly","type":"email:x","queue":"default"}`, mailer...); r.status != 403 {
		t.Fatalf("out of scope PUT: %d %s", r.status, r.body)
	}
	var list struct {
		Schedules []struct {
			Name   string `json:"name"`
			Paused bool   `json:"paused"`
		} `json:"schedules"`
	}
	r = e.do(t, "GET", "/v1/schedules", "", mailer...)
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != 200 || len(list.Schedules) != 1 || list.Schedules[0].Name != "digest" {
		t.Fatalf("mailer's list: %d %s", r.status, r.body)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if r := e.do(t, m, "/v1/schedules/reports", "", mailer...); r.status != 404 || !strings.Contains(r.body, `no schedule \"reports\"`) {
			t.Errorf("%s of a schedule out of scope: %d %s", m, r.status, r.body)
		}
	}
	if r := e.do(t, "POST", "/v1/schedules/reports/pause", "", mailer...); r.status != 404 {
		t.Errorf("pause of a schedule out of scope: %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/v1/schedules", "", ops...)
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Schedules) != 2 {
		t.Fatalf("ops's list: %d %s", r.status, r.body)
	}
	// Pause and resume.
	if r := e.do(t, "POST", "/v1/schedules/digest/pause", "", mailer...); r.status != 200 || !strings.Contains(r.body, `"paused":true`) {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/schedules/digest/resume", "", mailer...); r.status != 200 || !strings.Contains(r.body, `"paused":false`) {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	// Remove.
	if r := e.do(t, "DELETE", "/v1/schedules/digest", "", mailer...); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/schedules/digest", "", ops...); r.status != 404 || !strings.Contains(r.header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("GET after DELETE: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/v1/schedules/digest", ""); r.status != 401 {
		t.Fatalf("GET without a token: %d", r.status)
	}
}
