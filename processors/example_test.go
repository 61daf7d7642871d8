package processors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/processors"
	"github.com/tuskq/tuskq/tasks"
)

// A worker registers the built-ins with the allow-list from its config.
// A request to a host that is not on the list fails without retry.
func ExampleRegisterBuiltins() {
	reg := tasks.NewRegistry()
	err := processors.RegisterBuiltins(reg, processors.Options{
		HTTPAllowHosts: []string{"hooks.example.com", "127.0.0.1:9000"},
		Logger:         slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reg.Types())

	task := asynq.NewTask(processors.TypeHTTPRequest, []byte(`{"url":"http://169.254.169.254/latest/meta-data/"}`))
	err = reg.ProcessTask(context.Background(), task)
	fmt.Println(err)
	fmt.Println("retried:", !errors.Is(err, asynq.SkipRetry))
	// Output:
	// [demo:echo demo:fail demo:sleep http:request]
	// http:request: host "169.254.169.254" is not in worker.http_allow_hosts; add it to the config to allow it
	// retried: false
}

// A Go producer builds the payload of a webhook call with HTTPRequest.
func ExampleHTTPRequest() {
	payload, err := json.Marshal(processors.HTTPRequest{
		URL:     "https://hooks.example.com/orders",
		Headers: map[string]string{"Authorization": "Bearer token"},
		Body:    json.RawMessage(`{"order":42}`),
		Timeout: "10s",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Enqueue it with client.Enqueue(ctx, processors.TypeHTTPRequest, payload, nil).
	fmt.Println(string(payload))
	// Output:
	// {"url":"https://hooks.example.com/orders","headers":{"Authorization":"Bearer token"},"body":{"order":42},"timeout":"10s"}
}

// A worker can honour a receiver's Retry-After in its retry delay.
func ExampleRetryAfter() {
	delay := func(n int, err error, t *asynq.Task) time.Duration {
		if d, ok := processors.RetryAfter(err); ok {
			return d
		}
		return asynq.DefaultRetryDelayFunc(n, err, t)
	}
	err := &processors.StatusError{Method: "POST", Host: "hooks.example.com", StatusCode: 503, Status: "503 Service Unavailable", RetryAfter: 30 * time.Second}
	fmt.Println(err)
	fmt.Println(delay(0, err, nil))
	// Output:
	// http:request: POST hooks.example.com responded 503 Service Unavailable (retryable; Retry-After 30s)
	// 30s
}
