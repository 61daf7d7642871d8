package enqueuecli

import (
	"strings"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// DecodeLine decodes one batch line with taskspec.DecodeJSON, the decoder
// and checks of the HTTP API's bodies: a JSON object with a "type", a
// "payload" (any JSON value, stored as its compact encoding) or a
// "payload_base64" (standard base64 of the payload bytes), and the options
// queue, delay, at, max_retry, timeout, deadline, unique, unique_key, id, retention,
// headers and traceparent. Decoding is strict: unknown or duplicate fields,
// values of the wrong type, strings that are not UTF-8, malformed or
// out-of-bounds durations and times, both delay and at, and a missing or
// invalid type are errors wrapping ErrBadInput that name the field; every
// problem of the line is reported, one per line of the error's text.
//
// A valid traceparent is returned in Options.Headers under
// tasks.HeaderTraceparent, where tasks.Client keeps it when the enqueue's
// context carries no span.
func DecodeLine(line []byte) (tasks.Request, error) {
	t, probs := taskspec.DecodeJSON(line, "", time.Now())
	if len(probs) > 0 {
		return tasks.Request{}, lineProblems(probs)
	}
	return tasks.Request{Type: t.Type, Payload: t.Payload, Options: tasks.EnqueueOptions(t.Options)}, nil
}

// lineProblems is the error of a bad line: one problem per line of text,
// each "field: detail" (the whole line's problems without a field).
func lineProblems(probs taskspec.Problems) error {
	msgs := make([]string, len(probs))
	for i, p := range probs {
		if p.Field == "body" {
			msgs[i] = strings.Replace(p.Detail, "empty; send a JSON object", "the line is empty; want one JSON object", 1)
			continue
		}
		msgs[i] = p.Error()
	}
	return &inputError{msg: strings.Join(msgs, "\n")}
}

// flagProblems is the error of bad option flags, naming each flag.
func flagProblems(probs taskspec.Problems) error {
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = taskspec.FlagName(p.Field) + ": " + p.Detail
	}
	return &inputError{msg: strings.Join(msgs, "\n")}
}

// knownQueues returns the queues a task may be put in, as the HTTP API
// knows them: worker.queues, the routes' queues and the queues of running
// workers.
func knownQueues(cfg config.Config, client *tasks.Client) *taskspec.Queues {
	return taskspec.NewQueues(httpapi.ConfiguredQueues(cfg), httpapi.LiveQueues(client.Inspector()))
}

// checkQueue refuses a task whose queue (its own, else its route's, else
// "default") is not known, in the words of the HTTP API; name is how the
// error names the queue ("--queue" or "queue"). err wrapping ErrBadInput
// is a refusal; any other error means Redis did not answer.
func checkQueue(queues *taskspec.Queues, cfg config.Config, name, taskType string, o *tasks.EnqueueOptions) error {
	queue := o.Queue
	if queue == "" {
		rc, _ := cfg.Route(taskType)
		queue = rc.Queue
	}
	if queue == "" {
		queue = "default"
	}
	p, err := queues.Check("", queue)
	switch {
	case err != nil:
		return err
	case p != nil:
		return badValue(name, "%s", p.Detail)
	}
	return nil
}
