// Package producer turns the configuration into the options of the
// producers tuskq builds (the enqueue CLI, the HTTP API and the demo), so
// that each applies the routes and the enqueue section alike.
package producer

import (
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/tasks"
)

// ClientOptions returns the tasks.Client options of cfg: its routes,
// enqueue.timeout (whose 0, no deadline, is the client's negative
// EnqueueTimeout), enqueue.wait_replicas, enqueue.workflow_ttl and the events section.
func ClientOptions(cfg config.Config) tasks.ClientOptions {
	return tasks.ClientOptions{
		Routes:         Routes(cfg.Routes),
		EnqueueTimeout: EnqueueTimeout(cfg.Enqueue.Timeout),
		WaitReplicas:   cfg.Enqueue.WaitReplicas,
		Events:         Events(cfg.Events),
		WorkflowTTL:    cfg.Enqueue.WorkflowTTL,
	}
}

// Events returns the events options of the events section.
func Events(c config.EventsConfig) tasks.EventsOptions {
	return tasks.EventsOptions{Mode: c.Publish, MaxLen: int64(c.MaxLen)}
}

// EnqueueTimeout maps enqueue.timeout onto tasks.ClientOptions: the config
// says "no deadline" with 0, the client with a negative value (its 0 is the
// default).
func EnqueueTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// Routes converts the routes section into client routes; nil when there
// are none.
func Routes(routes map[string]config.RouteConfig) []tasks.Route {
	if len(routes) == 0 {
		return nil
	}
	out := make([]tasks.Route, 0, len(routes))
	for pattern, r := range routes {
		out = append(out, tasks.Route{
			Pattern:   pattern,
			Queue:     r.Queue,
			MaxRetry:  r.MaxRetry,
			Timeout:   r.Timeout,
			UniqueTTL: r.UniqueTTL,

			UniqueUntilEnd: r.UniqueUntilEnd,
		})
	}
	return out
}
