package tasks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// With WaitReplicas, an acknowledged task is on the replica when Enqueue
// returns; with the replica gone, the enqueue stores the task on the master
// and fails with ErrNotReplicated at its deadline; without WaitReplicas it
// succeeds as before.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.StartSentinel(t)
	master, replica := s.Data[0], s.Data[1]
	waiting, err := tasks.NewClient(asynq.RedisClientOpt{Addr: master.Addr()},
		tasks.ClientOptions{WaitReplicas: 1, EnqueueTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	rep := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer rep.Close()

	info, err := waiting.Enqueue(ctx, "wait:x", []byte("a"), &tasks.EnqueueOptions{TaskID: "w-1"})
	if err != nil {
		t.Fatalf("enqueue with a replica up: %v", err)
	}
	// No polling: the WAIT made sure the replica has it already.
	if n, err := rep.Exists(ctx, "asynq:{default}:t:"+info.ID).Result(); err != nil || n != 1 {
		t.Fatalf("task on the replica right after Enqueue: %d, %v; want 1", n, err)
	}
	res := waiting.EnqueueMany(ctx, []tasks.Request{{Type: "wait:x", Options: tasks.EnqueueOptions{TaskID: "w-2"}},
		{Type: "wait:x", Options: tasks.EnqueueOptions{TaskID: "w-3"}}}, 2)
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("EnqueueMany with a replica up: %v", r.Err)
		}
		if n, err := rep.Exists(ctx, "asynq:{default}:t:"+r.Info.ID).Result(); err != nil || n != 1 {
			t.Fatalf("task %s on the replica right after EnqueueMany: %d, %v; want 1", r.Info.ID, n, err)
		}
	}

	if err := replica.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = waiting.Enqueue(ctx, "wait:x", []byte("b"), &tasks.EnqueueOptions{TaskID: "w-4"})
	const want = `tasks: enqueue "wait:x" as task w-4: stored, but fewer replicas than asked confirmed it: ` +
		`0 of 1 replicas within the deadline; a failover now could lose it, and enqueueing it again with the same task ID cannot store it twice`
	if !errors.Is(err, tasks.ErrNotReplicated) || err.Error() != want {
		t.Fatalf("enqueue with the replica down: %v\nwant %s", err, want)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("enqueue with the replica down took %s; want about its 500ms deadline", took)
	}
	if ti, err := waiting.Inspector().GetTaskInfo("default", "w-4"); err != nil || string(ti.Payload) != "b" {
		t.Fatalf("task w-4 on the master: %+v, %v; want stored", ti, err)
	}

	plain, err := tasks.NewClient(asynq.RedisClientOpt{Addr: master.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Enqueue(ctx, "wait:x", nil, nil); err != nil {
		t.Fatalf("enqueue without WaitReplicas, replica down: %v", err)
	}
}

// In Redis Cluster the WAIT goes with the script to the master of the
// queue's slot: on masters without replicas every enqueue is stored and
// reports 0 of 1 replicas, whichever node the queue lives on.
func TestWaitReplicasCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cl := redistest.StartCluster(t)
	c, err := tasks.NewClient(asynq.RedisClusterClientOpt{Addrs: cl.Addrs()},
		tasks.ClientOptions{WaitReplicas: 1, EnqueueTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range []string{"a", "b", "c", "d", "e", "f"} {
		_, err := c.Enqueue(ctx, "wait:x", nil, &tasks.EnqueueOptions{Queue: q, TaskID: "id-" + q})
		if !errors.Is(err, tasks.ErrNotReplicated) {
			t.Fatalf("queue %s: %v; want ErrNotReplicated", q, err)
		}
		if _, err := c.Inspector().GetTaskInfo(q, "id-"+q); err != nil {
			t.Fatalf("queue %s: task not stored: %v", q, err)
		}
	}
}

func TestWaitReplicasNegative(t *testing.T) {
	t.Parallel()
	_, err := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, tasks.ClientOptions{WaitReplicas: -1})
	const want = "tasks: bad enqueue options: WaitReplicas -1 is negative; use 0 to not wait for replicas"
	if !errors.Is(err, tasks.ErrBadOptions) || err == nil || err.Error() != want {
		t.Fatalf("NewClient: %v; want %s", err, want)
	}
}
