// Package redisclient builds the go-redis client of one Redis deployment:
// standalone, Sentinel or Cluster. It is the one place that maps
// connection settings onto go-redis's three option types; internal/redisconn
// feeds it tuskq's config and tasks feeds it asynq's RedisConnOpt values.
package redisclient

import (
	"crypto/tls"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topologies of Options.Topology.
const (
	Standalone = "standalone"
	Sentinel   = "sentinel"
	Cluster    = "cluster"
)

// Options are the settings of a client, whatever the topology; each
// topology reads the fields that apply to it.
type Options struct {
	// Topology is Standalone (the default when empty), Sentinel or Cluster.
	Topology string
	// Network is "tcp" (the default) or "unix"; standalone only.
	Network string
	// Addr is the server's address; standalone only.
	Addr string
	// Addrs are the sentinels (Sentinel) or the cluster's seed nodes.
	Addrs []string
	// MasterName is the Sentinel master set's name.
	MasterName string
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername, SentinelPassword string
	// Username and Password authenticate to the data nodes.
	Username, Password string
	// DB is the database number (not in Cluster).
	DB int
	// Timeouts of each dial, read and write.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the connection pool's size (0: go-redis's default).
	PoolSize int
	// MaxRedirects bounds MOVED/ASK redirects in Cluster (0: go-redis's default).
	MaxRedirects int
	// TLS is the TLS configuration, nil for plain TCP.
	TLS *tls.Config
	// NoRetries turns go-redis's own re-sends off (MaxRetries -1), for
	// callers that re-send themselves and must see each attempt's error.
	NoRetries bool
}

// New returns the client of o: a *redis.Client, a failover *redis.Client
// or a *redis.ClusterClient. Every topology sets go-redis's
// ContextTimeoutEnabled, so that the deadline of a call's context bounds
// its reads and writes: without it go-redis waits for a reply up to
// ReadTimeout whatever the context says, and then sends the command again
// on its own. The caller closes the client.
func New(o Options) redis.UniversalClient {
	retries := 0 // go-redis's default, 3
	if o.NoRetries {
		retries = -1
	}
	switch o.Topology {
	case Sentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            o.MasterName,
			SentinelAddrs:         o.Addrs,
			SentinelUsername:      o.SentinelUsername,
			SentinelPassword:      o.SentinelPassword,
			Username:              o.Username,
			Password:              o.Password,
			DB:                    o.DB,
			DialTimeout:           o.DialTimeout,
			ReadTimeout:           o.ReadTimeout,
			WriteTimeout:          o.WriteTimeout,
			PoolSize:              o.PoolSize,
			MaxRetries:            retries,
			TLSConfig:             o.TLS,
			ContextTimeoutEnabled: true,
		})
	case Cluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 o.Addrs,
			MaxRedirects:          o.MaxRedirects,
			Username:              o.Username,
			Password:              o.Password,
			DialTimeout:           o.DialTimeout,
			ReadTimeout:           o.ReadTimeout,
			WriteTimeout:          o.WriteTimeout,
			PoolSize:              o.PoolSize,
			MaxRetries:            retries,
			TLSConfig:             o.TLS,
			ContextTimeoutEnabled: true,
		})
	}
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
		MaxRetries:            retries,
		TLSConfig:             o.TLS,
		ContextTimeoutEnabled: true,
	})
}
