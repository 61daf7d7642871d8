package logging_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/tuskq/tuskq/logging"
)

// dropTime removes the time so that the example output is deterministic.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func Example() {
	level, err := logging.ParseLevel("info")
	if err != nil {
		fmt.Println(err)
		return
	}
	logger, err := logging.New(os.Stdout, logging.Options{Level: level, ReplaceAttr: dropTime})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A worker stores the task's fields in the context once; every log call
	// made with that context carries them.
	ctx := logging.WithTask(context.Background(), logging.TaskFields{
		ID: "7b2f", Type: "email:send", Queue: "critical", Retry: 1,
	})
	logger.InfoContext(ctx, "sending", "to_domain", "example.com")

	// Inside a group the task fields stay at the top level.
	logger.WithGroup("smtp").InfoContext(ctx, "sent", "status", 250)
	// Output:
	// {"level":"INFO","msg":"sending","to_domain":"example.com","task_id":"7b2f","task_type":"email:send","queue":"critical","retry":1}
	// {"level":"INFO","msg":"sent","smtp":{"status":250},"task_id":"7b2f","task_type":"email:send","queue":"critical","retry":1}
}

func ExampleNew_invalidFormat() {
	_, err := logging.New(os.Stdout, logging.Options{Format: "xml"})
	fmt.Println(err)
	// Output:
	// logging: format "xml" is not valid; expected json or text
}

func ExampleNewAsynqLogger() {
	logger, err := logging.New(os.Stdout, logging.Options{ReplaceAttr: dropTime})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Set as asynq.Config.Logger; asynq.Config.LogLevel comes from the same
	// configured level.
	a := logging.NewAsynqLogger(logger)
	a.Info("Starting processing")
	// Output:
	// {"level":"INFO","msg":"Starting processing","component":"asynq"}
}

func ExamplePayloadAttr() {
	logger, err := logging.New(os.Stdout, logging.Options{ReplaceAttr: dropTime})
	if err != nil {
		fmt.Println(err)
		return
	}
	payload := []byte(`{"to":"someone@example.com"}`)
	// PayloadAttr returns an slog.Attr: its key depends on the option.
	logger.Info("enqueued", logging.PayloadAttr(payload, false)) //nolint:sloglint // an Attr by design, see above
	logger.Info("enqueued", logging.PayloadAttr(payload, true))  //nolint:sloglint // an Attr by design, see above
	// Output:
	// {"level":"INFO","msg":"enqueued","payload_bytes":28}
	// {"level":"INFO","msg":"enqueued","payload":"{\"to\":\"someone@example.com\"}"}
}
