package workercmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/producer"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/scheduler"
	"github.com/tuskq/tuskq/tasks"
)

// startScheduler runs the periodic tasks' scheduler (worker.scheduler) in
// this process until ctx is done; wait blocks until it has stopped and its
// connections are closed. With worker.scheduler off it does nothing.
func startScheduler(ctx context.Context, cfg config.Config, logger *slog.Logger) (wait func(), err error) {
	if !cfg.Worker.Scheduler {
		return func() {}, nil
	}
	schedules, err := cfg.ParseSchedules()
	if err != nil {
		return nil, err
	}
	connOpt, err := redisconn.ProducerConnOpt(cfg.Redis)
	if err != nil {
		return nil, err
	}
	client, err := tasks.NewClient(connOpt, producer.ClientOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("worker: scheduler: %w", err)
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		client.Close()
		return nil, err
	}
	s, err := scheduler.New(scheduler.Options{
		Client: client, Redis: rdb, Logger: logger,
		Config: schedules, Reconcile: true,
	})
	if err != nil {
		client.Close()
		rdb.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx) // returns nil when ctx is done
		client.Close()
		rdb.Close()
	}()
	return func() { <-done }, nil
}
