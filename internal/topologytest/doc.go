// Package topologytest holds tests only: they run every feature of tuskq
// (producer client, worker, retries, scheduling, uniqueness, bulk enqueue,
// routes, graceful shutdown, the worker's endpoints, the HTTP API, the
// monitor's fleet API, fleet-wide plugin state and process plugins)
// against a 3-master Redis Cluster and a Sentinel setup started on
// loopback ports, chosen through the configuration alone (redis.mode,
// redis.addrs, redis.master_name), and a Sentinel failover under load.
//
// Run them with
//
//	go test -race ./internal/topologytest/
//
// Each mode starts one topology shared by its subtests, which run in
// parallel on queues of their own; in cluster mode the queues of a subtest
// are picked so that they hash to different nodes. The failover test has a
// Sentinel setup of its own.
package topologytest
