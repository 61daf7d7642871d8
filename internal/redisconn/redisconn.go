// Package redisconn turns config.RedisConfig into connections: the
// asynq.RedisConnOpt that asynq's client, server and inspector take, and a
// go-redis client for the features tuskq builds on Redis directly. Both get
// the same address, credentials, timeouts, pool size and TLS.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisclient"
)

// ConnOpt returns the asynq.RedisConnOpt of c: its MakeRedisClient builds
// the same go-redis client as Client (a *redis.Client, a failover client or
// a *redis.ClusterClient according to c.Mode), so asynq's client, server and
// inspector, asynqmon and tuskq's own Redis code connect alike, pool size
// included. TLS files are read now; errors name the key at fault.
func ConnOpt(c config.RedisConfig) (asynq.RedisConnOpt, error) {
	tlsConf, err := TLSConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	switch c.Mode {
	case config.ModeStandalone, config.ModeSentinel, config.ModeCluster:
		return connOpt{c: c, tls: tlsConf}, nil
	}
	return nil, errMode(c.Mode)
}

// ProducerConnOpt is ConnOpt for producers (tasks.Client): its clients
// leave re-sending to the caller (go-redis's MaxRetries -1). go-redis
// re-sends a command after a lost reply on its own and reports only the
// last attempt's error, so a "connection refused" could hide an earlier
// attempt that reached Redis; tasks.Client re-sends itself and, seeing
// every attempt, tells "not stored" from "may have been stored".
func ProducerConnOpt(c config.RedisConfig) (asynq.RedisConnOpt, error) {
	o, err := ConnOpt(c)
	if err != nil {
		return nil, err
	}
	co := o.(connOpt)
	co.noRetries = true
	return co, nil
}

// connOpt implements asynq.RedisConnOpt over newClient.
type connOpt struct {
	c         config.RedisConfig
	tls       *tls.Config
	noRetries bool
}

// MakeRedisClient returns a new redis.UniversalClient, as asynq expects.
func (o connOpt) MakeRedisClient() any {
	rdb, err := newClient(o.c, o.tls, o.noRetries)
	if err != nil {
		panic(err) // unreachable: ConnOpt checked the mode
	}
	return rdb
}

// Client returns a go-redis client for c: a *redis.Client, a failover
// client or a *redis.ClusterClient according to c.Mode. The caller closes
// it.
func Client(c config.RedisConfig) (redis.UniversalClient, error) {
	tlsConf, err := TLSConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	return newClient(c, tlsConf, false)
}

// ProducerClient is Client without go-redis's own re-sends, for a
// tasks.Client (see ProducerConnOpt) and what shares its connections.
func ProducerClient(c config.RedisConfig) (redis.UniversalClient, error) {
	tlsConf, err := TLSConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	return newClient(c, tlsConf, true)
}

// newClient maps c onto go-redis options. Every mode sets go-redis's
// ContextTimeoutEnabled, so that the deadline of a call's context bounds
// its reads and writes: without it go-redis waits for a reply up to
// ReadTimeout whatever the context says, and then sends the command again
// on its own. asynq's server, client and inspector pass contexts without
// deadlines or with deadlines they mean (a task's deadline), so this
// changes nothing for them; tuskq's enqueue relies on it to end at its
// deadline (tasks.ClientOptions.EnqueueTimeout). noRetries turns
// go-redis's own re-sends off (see ProducerConnOpt).
func newClient(c config.RedisConfig, tlsConf *tls.Config, noRetries bool) (redis.UniversalClient, error) {
	o := redisclient.Options{
		Addr:             c.Addr,
		Addrs:            c.Addrs,
		MasterName:       c.MasterName,
		SentinelPassword: c.SentinelPassword,
		Username:         c.Username,
		Password:         c.Password,
		DB:               c.DB,
		DialTimeout:      c.DialTimeout,
		ReadTimeout:      c.ReadTimeout,
		WriteTimeout:     c.WriteTimeout,
		PoolSize:         c.PoolSize,
		TLS:              tlsConf,
		NoRetries:        noRetries,
	}
	switch c.Mode {
	case config.ModeStandalone:
		o.Topology = redisclient.Standalone
	case config.ModeSentinel:
		o.Topology = redisclient.Sentinel
	case config.ModeCluster:
		o.Topology = redisclient.Cluster
	default:
		return nil, errMode(c.Mode)
	}
	return redisclient.New(o), nil
}

// Describe names the Redis deployment of c for people, in log lines and
// errors: its address in standalone mode, the master and sentinels or the
// cluster seeds otherwise. It never includes credentials.
func Describe(c config.RedisConfig) string {
	switch c.Mode {
	case config.ModeSentinel:
		return fmt.Sprintf("sentinel master %s via %s", c.MasterName, strings.Join(c.Addrs, ","))
	case config.ModeCluster:
		return "cluster " + strings.Join(c.Addrs, ",")
	}
	return c.Addr
}

func errMode(mode string) error {
	return fmt.Errorf("redis.mode: %q is not valid; expected %s, %s or %s",
		mode, config.ModeStandalone, config.ModeSentinel, config.ModeCluster)
}

// TLSConfig builds the TLS configuration of c, or returns nil when TLS is
// off: c.Enabled is false and no other field is set. Files are read now, so
// a missing or malformed file is reported before connecting; errors name
// the key of the file.
func TLSConfig(c config.TLSConfig) (*tls.Config, error) {
	if c == (config.TLSConfig{}) {
		return nil, nil
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // opt-in for tests, documented in config
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis.tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		conf.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, fmt.Errorf("redis.tls.cert_file and redis.tls.key_file: set both or neither")
		}
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.key_file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.cert_file %s and redis.tls.key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
