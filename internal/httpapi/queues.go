package httpapi

import (
	"maps"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/taskspec"
)

// queueSet is the set of queues a task may be put in.
type queueSet = taskspec.Queues

// newQueueSet returns the queues a task may be put in (taskspec.Queues):
// those of worker.queues and the routes, and those of running workers,
// read from their heartbeats in Redis.
func newQueueSet(cfg config.Config, insp *asynq.Inspector) *taskspec.Queues {
	return taskspec.NewQueues(ConfiguredQueues(cfg), LiveQueues(insp))
}

// ConfiguredQueues returns the queues of worker.queues and of the routes.
func ConfiguredQueues(cfg config.Config) []string {
	names := slices.Collect(maps.Keys(cfg.Worker.Queues))
	for _, r := range cfg.Routes {
		names = append(names, r.Queue)
	}
	return names
}

// LiveQueues returns a function listing the queues the running workers
// serve, from their heartbeats in Redis.
func LiveQueues(insp *asynq.Inspector) func() ([]string, error) {
	return func() ([]string, error) {
		servers, err := insp.Servers()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range servers {
			for name := range s.Queues {
				names = append(names, name)
			}
		}
		return names, nil
	}
}
