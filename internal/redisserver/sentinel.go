package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions configures a Sentinel setup started by StartSentinel.
type SentinelOptions struct {
	// Dir holds one subdirectory per process (master, replica,
	// sentinel-0, …). Required.
	Dir string
	// MasterName is the name the sentinels monitor the master under.
	// Defaults to "tuskq".
	MasterName string
	// AppendOnly is Options.AppendOnly for the master and the replica.
	AppendOnly string
	// Args are extra redis-server arguments for the master and the replica
	// (not the sentinels), e.g. {"--min-replicas-to-write", "1"}.
	Args []string
	// DownAfter is the sentinels' down-after-milliseconds: how long the
	// master must be unreachable before a failover starts. Defaults to 3s.
	DownAfter time.Duration
	// FailoverTimeout is the sentinels' failover-timeout. Defaults to 5s.
	FailoverTimeout time.Duration
}

// Sentinel is a replicated Redis watched by three sentinels: a master, one
// replica and sentinels with a quorum of 2.
type Sentinel struct {
	// MasterName is the name the sentinels know the master by.
	MasterName string
	// Data are the data nodes: Data[0] is the initial master, Data[1] its
	// replica. Which one is master now is told by Master.
	Data []*Server
	// Sentinels are the three redis-server --sentinel processes.
	Sentinels []*Server
}

// sentinelCount and sentinelQuorum shape the setup: a failover needs a
// majority of the sentinels, so one of them may be stopped.
const (
	sentinelCount  = 3
	sentinelQuorum = 2
)

// StartSentinel starts a master, a replica of it (replicaof) and three
// sentinels, each with its own generated, rewritable configuration file.
// It returns once the replica is in sync (master_link_status:up) and every
// sentinel reports the master, knows the replica as connected and knows
// the two other sentinels. On error the started processes are stopped.
//
// A data node stopped with Kill and started again with Server.Restart
// rejoins as a replica: the sentinels reconfigure it (REPLICAOF the current
// master) some seconds after it comes back. Restart a killed master only
// after WaitFailover returned, or the empty node may be kept as master.
func StartSentinel(ctx context.Context, o SentinelOptions) (*Sentinel, error) {
	if o.Dir == "" {
		return nil, errors.New("redisserver: SentinelOptions.Dir is empty; pass a directory for data and logs")
	}
	if o.MasterName == "" {
		o.MasterName = "tuskq"
	}
	if o.DownAfter == 0 {
		// Not less: on a loaded machine (-race, 2 cores) a master can stall
		// for over a second, and the sentinels would fail over when no
		// test asked for it.
		o.DownAfter = 3 * time.Second
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 5 * time.Second
	}
	s := &Sentinel{MasterName: o.MasterName}
	if err := s.start(ctx, o); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

func (s *Sentinel) start(ctx context.Context, o SentinelOptions) error {
	// A diskless sync without delay: the replica (and a restarted old
	// master) is in sync at once instead of after Redis's 5 s default.
	dataArgs := append([]string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}, o.Args...)
	master, err := startIn(ctx, filepath.Join(o.Dir, "master"), Options{AppendOnly: o.AppendOnly, Args: dataArgs})
	if err != nil {
		return fmt.Errorf("redisserver: sentinel master: %w", err)
	}
	s.Data = append(s.Data, master)
	replicaArgs := append(append([]string{}, dataArgs...), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	replica, err := startIn(ctx, filepath.Join(o.Dir, "replica"), Options{AppendOnly: o.AppendOnly, Args: replicaArgs})
	if err != nil {
		return fmt.Errorf("redisserver: sentinel replica: %w", err)
	}
	s.Data = append(s.Data, replica)
	if err := poll(ctx, "wait for the replica to sync", func(ctx context.Context) (bool, error) {
		info, err := info(ctx, replica.Addr(), "replication")
		if err != nil {
			return false, err
		}
		if st := infoField(info, "master_link_status"); st != "up" {
			return false, fmt.Errorf("replica %s: master_link_status:%s", replica.Addr(), st)
		}
		return true, nil
	}); err != nil {
		return err
	}
	for i := range sentinelCount {
		dir := filepath.Join(o.Dir, "sentinel-"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("redisserver: sentinel dir: %w", err)
		}
		conf := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(sentinelConf(o, master.Port())), 0o644); err != nil {
			return fmt.Errorf("redisserver: sentinel config: %w", err)
		}
		sn, err := Start(ctx, Options{Dir: dir, ConfigFile: conf, Args: []string{"--sentinel"}})
		if err != nil {
			return fmt.Errorf("redisserver: sentinel %d: %w", i, err)
		}
		s.Sentinels = append(s.Sentinels, sn)
	}
	return poll(ctx, "wait for the sentinels to agree", s.ready)
}

// startIn creates dir and starts a server in it.
func startIn(ctx context.Context, dir string, o Options) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redisserver: data dir: %w", err)
	}
	o.Dir = dir
	return Start(ctx, o)
}

// sentinelConf is the initial configuration file of a sentinel; the
// sentinel rewrites it as it learns the setup.
func sentinelConf(o SentinelOptions, masterPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sentinel resolve-hostnames no\n")
	fmt.Fprintf(&b, "sentinel announce-ip 127.0.0.1\n")
	fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d %d\n", o.MasterName, masterPort, sentinelQuorum)
	fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", o.MasterName, o.DownAfter.Milliseconds())
	fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", o.MasterName, o.FailoverTimeout.Milliseconds())
	fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", o.MasterName)
	return b.String()
}

// ready reports whether every sentinel sees the master, one connected
// replica in sync and the other sentinels.
func (s *Sentinel) ready(ctx context.Context) (bool, error) {
	for _, sn := range s.Sentinels {
		if err := s.sentinelReady(ctx, sn); err != nil {
			return false, err
		}
	}
	return true, nil
}

// sentinelReady checks one sentinel for ready.
func (s *Sentinel) sentinelReady(ctx context.Context, sn *Server) error {
	c := sentinelClient(sn.Addr())
	defer c.Close()
	m, err := c.Master(ctx, s.MasterName).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: SENTINEL MASTER %s: %w", sn.Addr(), s.MasterName, err)
	}
	if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != strconv.Itoa(sentinelCount-1) {
		return fmt.Errorf("sentinel %s: flags %q, %s replicas, %s other sentinels",
			sn.Addr(), m["flags"], m["num-slaves"], m["num-other-sentinels"])
	}
	replicas, err := c.Replicas(ctx, s.MasterName).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: SENTINEL REPLICAS %s: %w", sn.Addr(), s.MasterName, err)
	}
	for _, rm := range replicas {
		if rm["flags"] != "slave" || rm["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s: replica %s:%s flags %q, link %q",
				sn.Addr(), rm["ip"], rm["port"], rm["flags"], rm["master-link-status"])
		}
	}
	return nil
}

// Addrs returns host:port of the sentinels.
func (s *Sentinel) Addrs() []string { return addrs(s.Sentinels) }

// MasterAddr returns the master's host:port as the first sentinel that
// answers reports it (SENTINEL GET-MASTER-ADDR-BY-NAME).
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, sn := range s.Sentinels {
		addr, err := s.masterAddrFrom(ctx, sn)
		if err == nil {
			return addr, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("redisserver: no sentinel reports master %s: %w", s.MasterName, errors.Join(errs...))
}

func (s *Sentinel) masterAddrFrom(ctx context.Context, sn *Server) (string, error) {
	c := sentinelClient(sn.Addr())
	defer c.Close()
	arr, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME %s: %w", sn.Addr(), s.MasterName, err)
	}
	if len(arr) != 2 {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME %s: reply %v", sn.Addr(), s.MasterName, arr)
	}
	return net.JoinHostPort(arr[0], arr[1]), nil
}

// Master returns the data node that the sentinels report as master now.
func (s *Sentinel) Master(ctx context.Context) (*Server, error) {
	addr, err := s.MasterAddr(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range s.Data {
		if d.Addr() == addr {
			return d, nil
		}
	}
	return nil, fmt.Errorf("redisserver: master %s is none of the data nodes", addr)
}

// WaitFailover waits until every sentinel that answers (at least a quorum)
// reports the same master other than oldAddr and that node answers ROLE
// as master, and returns its address. Without a deadline on ctx it gives
// up after 60 s.
func (s *Sentinel) WaitFailover(ctx context.Context, oldAddr string) (string, error) {
	var newAddr string
	err := poll(ctx, "wait for a failover away from "+oldAddr, func(ctx context.Context) (bool, error) {
		agreed, answers := "", 0
		for _, sn := range s.Sentinels {
			addr, err := s.masterAddrFrom(ctx, sn)
			if err != nil {
				continue // a stopped sentinel
			}
			if addr == oldAddr || (agreed != "" && addr != agreed) {
				return false, fmt.Errorf("sentinel %s reports master %s", sn.Addr(), addr)
			}
			agreed = addr
			answers++
		}
		if answers < sentinelQuorum {
			return false, fmt.Errorf("only %d sentinels answer", answers)
		}
		var role []any
		if err := withClient(agreed, func(c *redis.Client) (err error) {
			role, err = c.Do(ctx, "ROLE").Slice()
			return err
		}); err != nil {
			return false, fmt.Errorf("%s: ROLE: %w", agreed, err)
		}
		if len(role) == 0 || role[0] != "master" {
			return false, fmt.Errorf("%s: ROLE %v", agreed, role)
		}
		newAddr = agreed
		return true, nil
	})
	return newAddr, err
}

// Failover asks a sentinel to fail over now (SENTINEL FAILOVER), retrying
// while no sentinel accepts, then waits for the new master like
// WaitFailover and returns its address. The old master is turned into a
// replica of the new one by the sentinels some seconds later.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	old, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	if err := poll(ctx, "SENTINEL FAILOVER "+s.MasterName, func(ctx context.Context) (bool, error) {
		var errs []error
		for _, sn := range s.Sentinels {
			c := sentinelClient(sn.Addr())
			err := c.Failover(ctx, s.MasterName).Err()
			_ = c.Close()
			var re redis.Error
			if err == nil || errors.As(err, &re) && strings.HasPrefix(re.Error(), "INPROG") {
				return true, nil
			}
			errs = append(errs, err)
		}
		return false, errors.Join(errs...)
	}); err != nil {
		return "", err
	}
	return s.WaitFailover(ctx, old)
}

// Stop stops the sentinels first, so none starts a failover meanwhile, then
// the data nodes, and returns their errors joined.
func (s *Sentinel) Stop() error {
	return errors.Join(stopAll(s.Sentinels), stopAll(s.Data))
}
