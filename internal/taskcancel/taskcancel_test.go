package taskcancel

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// A cancellation published for aq/job-71 ends that attempt's context and
// not the one of vq/job-71, on standalone Redis and on Redis Cluster (a
// publisher and a subscriber on different nodes' connections).
func TestCancelByQueueAndID(t *testing.T) {
	t.Parallel()
	standalone := redistest.Start(t)
	cluster := redistest.StartCluster(t)
	for _, tc := range []struct {
		name     string
		sub, pub func() redis.UniversalClient
	}{
		{"standalone",
			func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: standalone.Addr()}) },
			func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: standalone.Addr()}) }},
		{"cluster",
			func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: cluster.Addrs()[0]}) },
			func() redis.UniversalClient {
				return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()[1:]})
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sub, pub := tc.sub(), tc.pub()
			defer sub.Close()
			defer pub.Close()
			r := NewRegistry()
			ctx := t.Context()
			stop, err := r.Listen(ctx, sub, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()

			aq := r.BaseContext(ctx)
			vq := r.BaseContext(ctx)
			r.add(key{"aq", "job-71"}, aq.Value(slotKey{}).(*slot))
			r.add(key{"vq", "job-71"}, vq.Value(slotKey{}).(*slot))
			if err := Publish(ctx, pub, "aq", "job-71"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-aq.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("aq/job-71 was not cancelled")
			}
			if !errors.Is(context.Cause(aq), ErrCancelled) {
				t.Errorf("cause = %v; want ErrCancelled", context.Cause(aq))
			}
			// Publish and wait for a second cancellation of a task of
			// neither ID: messages arrive in order, so vq/job-71 has
			// been spared by the time it lands.
			other := r.BaseContext(ctx)
			r.add(key{"vq", "job-72"}, other.Value(slotKey{}).(*slot))
			if err := Publish(ctx, pub, "vq", "job-72"); err != nil {
				t.Fatal(err)
			}
			<-other.Done()
			if vq.Err() != nil {
				t.Errorf("vq/job-71 was cancelled (%v) by the cancellation of aq/job-71", context.Cause(vq))
			}
			if n := r.Running(); n != 3 {
				t.Errorf("Running = %d; want 3 (cancelled attempts stay registered until their processor returns)", n)
			}
		})
	}
}

func TestPublishRefusesEmptyNames(t *testing.T) {
	t.Parallel()
	err := Publish(t.Context(), nil, "", "job-71")
	if want := `taskcancel: queue and task ID are required (queue "", id "job-71")`; err == nil || err.Error() != want || !errors.Is(err, ErrBadTask) {
		t.Errorf("err = %v; want %s", err, want)
	}
}
