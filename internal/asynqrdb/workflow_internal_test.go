package asynqrdb

import (
	"strconv"
	"strings"
	"testing"
)

// The workflow scripts spell the bounds of results as literals.
func TestWorkflowBoundsInScripts(t *testing.T) {
	for _, n := range []int{MaxInlineResults, MaxResult} {
		if !strings.Contains(workflowLua, "> "+strconv.Itoa(n)) && !strings.Contains(workflowLua, "<= "+strconv.Itoa(n)) {
			t.Errorf("workflowLua does not compare with %d", n)
		}
	}
	// The keys the scripts build are asynq's.
	for _, want := range []string{`"asynq:{" .. spec.q .. "}:"`, `qp .. "t:"`, `qp .. "pending"`, `qp .. "scheduled"`, `qp .. "tuskq:wake"`} {
		if !strings.Contains(workflowLua, want) {
			t.Errorf("workflowLua lacks %s", want)
		}
	}
	if QueueKeyPrefix("q")+"t:x" != TaskKey("q", "x") || QueueKeyPrefix("q")+"pending" != PendingKey("q") ||
		QueueKeyPrefix("q")+"scheduled" != ScheduledKey("q") || QueueKeyPrefix("q")+"tuskq:wake" != WakeKey("q") || QueueKeyPrefix("q") != "asynq:{q}:" {
		t.Error("the keys built in workflowLua differ from the key functions")
	}
}
