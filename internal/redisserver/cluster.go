package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// ClusterOptions configures a Redis Cluster started by StartCluster.
type ClusterOptions struct {
	// Dir holds one subdirectory per node (node-0, node-1, …). Required.
	Dir string
	// Masters is the number of master nodes. Defaults to 3.
	Masters int
	// AppendOnly is Options.AppendOnly for every node.
	AppendOnly string
	// Args are extra redis-server arguments for every node; they come after
	// the cluster arguments, so they may override them (for example
	// "--cluster-node-timeout").
	Args []string
}

// Cluster is a Redis Cluster of masters only, each owning an even share of
// the hash slots.
type Cluster struct {
	// Nodes are the master nodes; Nodes[i] owns the i-th share of slots.
	Nodes []*Server
}

// StartCluster starts o.Masters cluster-enabled redis-server processes,
// assigns each an even range of slots (CLUSTER ADDSLOTSRANGE), joins them
// (CLUSTER MEET) and waits until every node reports cluster_state:ok and
// knows the owner of every slot. On error the started nodes are stopped.
// A node keeps its identity in nodes.conf in its directory, so
// Server.Restart brings it back into the cluster.
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("redisserver: ClusterOptions.Dir is empty; pass a directory for data and logs")
	}
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.Masters < 1 || o.Masters > clusterSlots {
		return nil, fmt.Errorf("redisserver: ClusterOptions.Masters is %d; want 1 to %d", o.Masters, clusterSlots)
	}
	c := &Cluster{}
	if err := c.start(ctx, o); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, o ClusterOptions) error {
	for i := range o.Masters {
		dir := filepath.Join(o.Dir, "node-"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("redisserver: cluster node dir: %w", err)
		}
		args := append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		}, o.Args...)
		s, err := Start(ctx, Options{Dir: dir, AppendOnly: o.AppendOnly, Args: args})
		if err != nil {
			return fmt.Errorf("redisserver: cluster node %d: %w", i, err)
		}
		c.Nodes = append(c.Nodes, s)
	}
	for i, s := range c.Nodes {
		lo, hi := i*clusterSlots/len(c.Nodes), (i+1)*clusterSlots/len(c.Nodes)-1
		if err := withClient(s.Addr(), func(rdb *redis.Client) error {
			return rdb.ClusterAddSlotsRange(ctx, lo, hi).Err()
		}); err != nil {
			return fmt.Errorf("redisserver: cluster node %d: CLUSTER ADDSLOTSRANGE %d %d: %w", i, lo, hi, err)
		}
	}
	for _, s := range c.Nodes[1:] {
		host, port, _ := net.SplitHostPort(s.Addr())
		if err := withClient(c.Nodes[0].Addr(), func(rdb *redis.Client) error {
			return rdb.ClusterMeet(ctx, host, port).Err()
		}); err != nil {
			return fmt.Errorf("redisserver: CLUSTER MEET %s: %w", s.Addr(), err)
		}
	}
	return poll(ctx, "wait for cluster_state:ok on every node", c.ready)
}

// ready reports whether every node sees the whole cluster: state ok, all
// slots assigned and served, all nodes known.
func (c *Cluster) ready(ctx context.Context) (bool, error) {
	for _, s := range c.Nodes {
		var info string
		err := withClient(s.Addr(), func(rdb *redis.Client) (err error) {
			info, err = rdb.ClusterInfo(ctx).Result()
			return err
		})
		if err != nil {
			return false, err
		}
		if infoField(info, "cluster_state") != "ok" ||
			infoField(info, "cluster_slots_ok") != strconv.Itoa(clusterSlots) ||
			infoField(info, "cluster_known_nodes") != strconv.Itoa(len(c.Nodes)) {
			return false, fmt.Errorf("node %s: CLUSTER INFO: state %s, slots ok %s, known nodes %s",
				s.Addr(), infoField(info, "cluster_state"), infoField(info, "cluster_slots_ok"),
				infoField(info, "cluster_known_nodes"))
		}
	}
	return true, nil
}

// Addrs returns host:port of every node, in Nodes order.
func (c *Cluster) Addrs() []string { return addrs(c.Nodes) }

// Stop stops every node and returns their errors joined.
func (c *Cluster) Stop() error { return stopAll(c.Nodes) }
