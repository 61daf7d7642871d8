package tasks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// A route's unique_until_end applies to tasks that say nothing of
// uniqueness; a task's own unique_key wins; until_end and a TTL together
// are refused.
func TestUniqueUntilEndRoute(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{
		Routes: []tasks.Route{{Pattern: "r:*", UniqueUntilEnd: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if _, err := c.Enqueue(ctx, "r:a", []byte("p"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "r:a", []byte("p"), nil); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("equal task under a unique_until_end route: %v; want ErrDuplicateTask", err)
	}
	if _, err := c.Enqueue(ctx, "r:a", []byte("p"), &tasks.EnqueueOptions{UniqueKey: "k"}); err != nil {
		t.Fatalf("own unique_key: %v; want it stored (another lock)", err)
	}
	_, err = c.Enqueue(ctx, "x:y", nil, &tasks.EnqueueOptions{UniqueUntilEnd: true, UniqueTTL: time.Hour})
	if want := `tasks: enqueue "x:y": bad enqueue options: UniqueTTL: until_end and a duration cannot be used together; pick one`; !errors.Is(err, tasks.ErrBadOptions) || err.Error() != want {
		t.Fatalf("until_end with a TTL: %v; want %q", err, want)
	}
	if _, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{
		Routes: []tasks.Route{{Pattern: "r:*", UniqueUntilEnd: true, UniqueTTL: time.Hour}},
	}); !errors.Is(err, tasks.ErrBadOptions) {
		t.Fatalf("route with both: %v; want ErrBadOptions", err)
	}
}
