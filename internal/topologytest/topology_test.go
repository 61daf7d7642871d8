package topologytest

import (
	"testing"

	"github.com/tuskq/tuskq/internal/redistest"
)

// feature is one subtest run against each topology.
type feature struct {
	name string
	run  func(t *testing.T, tp *topo)
}

// features are the subtests that share a topology; each uses queues of
// its own.
func features() []feature {
	return []feature{
		{"enqueue-weighted-queues", testEnqueue},
		{"retry-archive", testRetryArchive},
		{"scheduled", testScheduled},
		{"unique", testUnique},
		{"enqueue-many-wait", testEnqueueMany},
		{"routes-from-config", testRoutes},
		{"graceful-shutdown", testGracefulShutdown},
		{"worker-metrics-readyz", testWorkerEndpoints},
		{"http-api-idempotency", testHTTPAPI},
		{"monitor-fleet", testMonitorFleet},
		{"plugin-fleet-state-pubsub", testFleetStatePubSub},
		{"plugin-process-runtime", testProcessPlugin},
		{"orphan-recovery-completion-record", testOrphanRecovery},
		{"schedule-once-per-tick", testSchedule},
		{"limits-across-nodes", testLimits},
	}
}

// TestTopology runs every feature in cluster and in sentinel mode, each
// mode on one topology, and, each on a topology of its own, the
// push wake-up of a worker of several queues in cluster mode, the
// sentinel failover under load and push wake-ups across a failover.
func TestTopology(t *testing.T) {
	t.Parallel()
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		runFeatures(t, clusterTopo(redistest.StartCluster(t)))
		t.Run("push-wake-several-queues", func(t *testing.T) {
			t.Parallel()
			testClusterWake(t)
		})
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		runFeatures(t, sentinelTopo(redistest.StartSentinel(t)))
		t.Run("failover-under-load", func(t *testing.T) {
			t.Parallel()
			testFailoverUnderLoad(t)
		})
		t.Run("push-wake-survives-failover", func(t *testing.T) {
			t.Parallel()
			testSentinelWakeSurvivesFailover(t)
		})
	})
}

// runFeatures runs every feature as a parallel subtest on tp.
func runFeatures(t *testing.T, tp *topo) {
	for _, f := range features() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			f.run(t, tp)
		})
	}
}
