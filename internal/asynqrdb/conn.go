package asynqrdb

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redisclient"
)

// ErrNotGoRedis is wrapped by the error of RedisClient for a RedisConnOpt
// whose MakeRedisClient does not return a go-redis client.
var ErrNotGoRedis = errors.New("does not make a go-redis client")

// RedisClient returns the go-redis client of opt. For asynq's own
// RedisClientOpt, RedisFailoverClientOpt and RedisClusterClientOpt it builds
// the client their MakeRedisClient builds in asynq v0.26.0 (the same
// options, field for field), with go-redis's ContextTimeoutEnabled on, so
// that a context's deadline bounds each command, and its own re-sends off
// (MaxRetries -1): the caller re-sends itself and must see each attempt's
// error to tell whether a command may have reached Redis. Any other
// RedisConnOpt makes its client itself.
func RedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
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
		return nil, fmt.Errorf("%T %w", opt, ErrNotGoRedis)
	}
	return rdb, nil
}

func clientOf(o asynq.RedisClientOpt) redis.UniversalClient {
	return redisclient.New(redisclient.Options{
		Network:      o.Network,
		Addr:         o.Addr,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		PoolSize:     o.PoolSize,
		TLS:          o.TLSConfig,
		NoRetries:    true,
	})
}

func failoverClientOf(o asynq.RedisFailoverClientOpt) redis.UniversalClient {
	return redisclient.New(redisclient.Options{
		Topology:         redisclient.Sentinel,
		MasterName:       o.MasterName,
		Addrs:            o.SentinelAddrs,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
		Username:         o.Username,
		Password:         o.Password,
		DB:               o.DB,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		PoolSize:         o.PoolSize,
		TLS:              o.TLSConfig,
		NoRetries:        true,
	})
}

// clusterClientOf leaves the pool size at go-redis's default, as asynq's
// RedisClusterClientOpt does.
func clusterClientOf(o asynq.RedisClusterClientOpt) redis.UniversalClient {
	return redisclient.New(redisclient.Options{
		Topology:     redisclient.Cluster,
		Addrs:        o.Addrs,
		MaxRedirects: o.MaxRedirects,
		Username:     o.Username,
		Password:     o.Password,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		TLS:          o.TLSConfig,
		NoRetries:    true,
	})
}
