package taskcancel

import (
	"github.com/tuskq/tuskq/internal/asynqrdb"

	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
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

			aq, aqSlot := attempt(ctx)
			vq, vqSlot := attempt(ctx)
			r.add(key{"aq", "job-71"}, aqSlot)
			r.add(key{"vq", "job-71"}, vqSlot)
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
			other, otherSlot := attempt(ctx)
			r.add(key{"vq", "job-72"}, otherSlot)
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

// attempt is the base context of one attempt, as BaseContext makes it.
func attempt(ctx context.Context) (context.Context, *slot) {
	c, cancel := context.WithCancelCause(ctx)
	return c, &slot{cancel: cancel}
}

// TakeCancelled answers true once per cancellation of a running task, and
// never for a task not cancelled or not running here.
func TestTakeCancelled(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	_, s := attempt(t.Context())
	r.add(key{"aq", "j1"}, s)
	if r.TakeCancelled("aq", "j1") {
		t.Fatal("TakeCancelled before any cancellation")
	}
	if n := r.Cancel("aq", "nope"); n != 0 || r.TakeCancelled("aq", "nope") {
		t.Fatal("a task not running here was marked")
	}
	if n := r.Cancel("aq", "j1"); n != 1 {
		t.Fatalf("Cancel = %d", n)
	}
	if !r.TakeCancelled("aq", "j1") || r.TakeCancelled("aq", "j1") || r.TakeCancelled("vq", "j1") {
		t.Fatal("TakeCancelled: want true once for aq/j1 only")
	}
}

// asynq's own cancellation (Inspector.CancelProcessing, asynqmon) names an
// ID alone: every running attempt of that ID is cancelled.
func TestCancelFromAsynqChannel(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	r := NewRegistry()
	ctx := t.Context()
	stop, err := r.Listen(ctx, rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a, as := attempt(ctx)
	b, bs := attempt(ctx)
	r.add(key{"aq", "job-9"}, as)
	r.add(key{"aq", "job-10"}, bs)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr()})
	defer insp.Close()
	if err := insp.CancelProcessing("job-9"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("job-9 was not cancelled by Inspector.CancelProcessing")
	}
	if !errors.Is(context.Cause(a), ErrCancelled) {
		t.Errorf("cause = %v; want ErrCancelled", context.Cause(a))
	}
	if b.Err() != nil {
		t.Errorf("job-10 was cancelled too")
	}
}

// The error of a cancelled attempt says "cancelled" and ends the task
// without a retry: archived (SkipRetry) or, with Delete, deleted
// (RevokeTask).
func TestCancelledError(t *testing.T) {
	t.Parallel()
	archive, del := NewRegistry(), NewRegistry()
	del.Delete = true
	for _, tc := range []struct {
		err       error
		is, isNot error
	}{
		{archive.endErr(), asynq.SkipRetry, asynq.RevokeTask},
		{del.endErr(), asynq.RevokeTask, asynq.SkipRetry},
	} {
		if tc.err.Error() != "cancelled" || !errors.Is(tc.err, tasks.ErrCancelled) || !errors.Is(tc.err, tc.is) || errors.Is(tc.err, tc.isNot) {
			t.Errorf("%v: is ErrCancelled %v, is %v %v, is %v %v", tc.err, errors.Is(tc.err, tasks.ErrCancelled),
				tc.is, errors.Is(tc.err, tc.is), tc.isNot, errors.Is(tc.err, tc.isNot))
		}
	}
}

func TestPublishRefusesEmptyNames(t *testing.T) {
	t.Parallel()
	err := Publish(t.Context(), nil, "", "job-71")
	if want := `taskcancel: queue and task ID are required (queue "", id "job-71")`; err == nil || err.Error() != want || !errors.Is(err, ErrBadTask) {
		t.Errorf("err = %v; want %s", err, want)
	}
}

// The workflow scripts publish cancellations on this package's channel.
func TestWorkflowCancelChannel(t *testing.T) {
	if asynqrdb.WorkflowCancelChannel != Channel {
		t.Errorf("asynqrdb.WorkflowCancelChannel %q, Channel %q", asynqrdb.WorkflowCancelChannel, Channel)
	}
}
