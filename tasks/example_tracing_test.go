package tasks_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tuskq/tuskq/tasks"
)

// With a TracerProvider, each enqueue is a PRODUCER span whose context the
// task carries to the worker. Use your SDK provider (or
// otel.GetTracerProvider()); nil, the default, makes no span.
func ExampleClientOptions_tracerProvider() {
	redisServer, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer redisServer.Close()

	spans := tracetest.NewSpanRecorder() // an exporter, in a real program
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: redisServer.Addr()}, tasks.ClientOptions{TracerProvider: tp})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	info, err := client.Enqueue(context.Background(), "email:send", []byte(`{"to":"ada@example.com"}`), &tasks.EnqueueOptions{Queue: "critical"})
	if err != nil {
		panic(err)
	}
	s := spans.Ended()[0]
	fmt.Println(s.Name(), s.SpanKind())
	fmt.Println("the task's trace is the span's:", info.TraceID == s.SpanContext().TraceID().String())
	for _, kv := range s.Attributes() {
		if kv.Key != "messaging.message.id" {
			fmt.Printf("%s=%s\n", kv.Key, kv.Value.String())
		}
	}
	// Output:
	// send critical producer
	// the task's trace is the span's: true
	// messaging.system=asynq
	// messaging.operation.type=send
	// messaging.operation.name=send
	// messaging.destination.name=critical
	// messaging.message.body.size=24
	// tuskq.task.type=email:send
}
