package tasks

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// newRedisClient returns the go-redis client of opt (asynqrdb.RedisClient):
// for asynq's own RedisConnOpt types the client their MakeRedisClient
// builds, with go-redis's ContextTimeoutEnabled on, so that a context's
// deadline bounds each enqueue (ClientOptions.EnqueueTimeout), and its own
// re-sends off: the client re-sends itself and must see each attempt's
// error to tell whether a command may have reached Redis (see exactSends).
// asynq's inspector, which passes contexts without deadlines, is not
// affected. Any other RedisConnOpt makes its client itself.
func newRedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	rdb, err := asynqrdb.RedisClient(opt)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return rdb, nil
}

// exactSends reports whether rdb reports the error of every attempt it
// makes: a *redis.Client whose own re-sends are off (MaxRetries -1, which
// go-redis stores as 0). Otherwise a command's error is that of
// go-redis's last attempt, and an earlier one may have reached Redis
// whatever the last error says. A *redis.ClusterClient always re-sends on
// network errors (to the same node, then another), so it never is.
func exactSends(rdb redis.UniversalClient) bool {
	c, ok := rdb.(*redis.Client)
	return ok && c.Options().MaxRetries == 0
}
