package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
)

// Limit gauges, read from Redis at each scrape.
var (
	descLimitInUse = prometheus.NewDesc("tuskq_limit_in_use",
		"Concurrency slots of the fleet limit held now (leases not expired), over all its key values.", []string{"limit"}, nil)
	descLimitCapacity = prometheus.NewDesc("tuskq_limit_capacity",
		"Capacity of the fleet limit: slots for kind concurrency (per key value for a keyed limit), starts per second for kind rate.", []string{"limit", "kind"}, nil)
)

// limitCollector reports the effective limits (the configured ones and
// the run-time overrides) and the slots in use. It is unchecked: Describe
// sends nothing, as the limits change at run time.
type limitCollector struct {
	rdb        redis.UniversalClient
	configured []limits.Limit
	timeout    time.Duration
}

func (c *limitCollector) Describe(chan<- *prometheus.Desc) {}

func (c *limitCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	entries, err := limits.NewStore(c.rdb).List(ctx, c.configured)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLimitInUse, err)
		return
	}
	for _, e := range entries {
		l := e.Limit
		if l.Concurrency > 0 {
			ch <- prometheus.MustNewConstMetric(descLimitCapacity, prometheus.GaugeValue, float64(l.Concurrency), l.Name, "concurrency")
			if n, err := limits.InUse(ctx, c.rdb, l); err == nil {
				ch <- prometheus.MustNewConstMetric(descLimitInUse, prometheus.GaugeValue, float64(n), l.Name)
			}
		}
		if !l.Rate.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLimitCapacity, prometheus.GaugeValue, float64(l.Rate.N)/l.Rate.Per.Seconds(), l.Name, "rate")
		}
	}
}
