package producer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/producer"
	"github.com/tuskq/tuskq/tasks"
)

func TestClientOptions(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	two := 2
	cfg.Routes = map[string]config.RouteConfig{"email:*": {Queue: "low", MaxRetry: &two, Timeout: time.Minute, UniqueTTL: time.Hour}}
	cfg.Enqueue.WaitReplicas = 1
	got := producer.ClientOptions(cfg)
	want := []tasks.Route{{Pattern: "email:*", Queue: "low", MaxRetry: &two, Timeout: time.Minute, UniqueTTL: time.Hour}}
	if !slices.Equal(got.Routes, want) || got.EnqueueTimeout != 2*time.Second || got.WaitReplicas != 1 {
		t.Fatalf("ClientOptions = %+v; want routes %+v, timeout 2s, 1 replica", got, want)
	}
	// enqueue.timeout 0 means no deadline: the client's negative value,
	// since its own 0 is the 2s default.
	cfg.Enqueue.Timeout = 0
	if got := producer.ClientOptions(cfg).EnqueueTimeout; got != -1 {
		t.Fatalf("EnqueueTimeout for enqueue.timeout 0 = %s; want -1ns (none)", got)
	}
	if got := producer.Routes(nil); got != nil {
		t.Fatalf("Routes(nil) = %v; want nil", got)
	}
}
