package tasks

import (
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// newRedisClient returns the go-redis client of opt. For asynq's own
// RedisClientOpt, RedisFailoverClientOpt and RedisClusterClientOpt it builds
// the client their MakeRedisClient builds in asynq v0.26.0 (the same
// options, field for field), with go-redis's ContextTimeoutEnabled on, so
// that a context's deadline bounds each enqueue (ClientOptions.EnqueueTimeout);
// asynq's inspector, which passes contexts without deadlines, is not
// affected. Any other RedisConnOpt makes its client itself.
func newRedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return clientOf(o), nil
	case *asynq.RedisClientOpt:
		return clientOf(*o), nil
	case asynq.RedisFailoverClientOpt:
		return failoverClientOf(o), nil
	case *asynq.RedisFailoverClientOpt:
		return failoverClientOf(*o), nil
	case asynq.RedisClusterClientOpt:
		return clusterClientOf(o), nil
	case *asynq.RedisClusterClientOpt:
		return clusterClientOf(*o), nil
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("tasks: %T does not make a go-redis client", opt)
	}
	return rdb, nil
}

func clientOf(o asynq.RedisClientOpt) *redis.Client {
	return redis.NewClient(&redis.Options{
		Network:               o.Network,
		Addr:                  o.Addr,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolSize:              o.PoolSize,
		TLSConfig:             o.TLSConfig,
		ContextTimeoutEnabled: true,
	})
}

func failoverClientOf(o asynq.RedisFailoverClientOpt) *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            o.MasterName,
		SentinelAddrs:         o.SentinelAddrs,
		SentinelUsername:      o.SentinelUsername,
		SentinelPassword:      o.SentinelPassword,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolSize:              o.PoolSize,
		TLSConfig:             o.TLSConfig,
		ContextTimeoutEnabled: true,
	})
}

func clusterClientOf(o asynq.RedisClusterClientOpt) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 o.Addrs,
		MaxRedirects:          o.MaxRedirects,
		Username:              o.Username,
		Password:              o.Password,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		TLSConfig:             o.TLSConfig,
		ContextTimeoutEnabled: true,
	})
}
