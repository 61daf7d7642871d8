package asynqrdb

import "time"

// This file gives the worker what it needs to run its spare servers only
// while there is work (worker.wake push): an idle worker process runs one
// asynq server, whose heartbeat, forwarder, janitor and recoverer are the
// only ones sending commands to Redis, and starts the others when that
// server meets a backlog.

// OnTask makes c call f after every fetch that returned a task, with the
// number of fetches in a row (this one included) that returned one: 2 or
// more means tasks were waiting when the server looked. f runs on asynq's
// fetch loop and must not block. It returns c.
func (c *MultiFetch) OnTask(f func(streak int)) *MultiFetch {
	c.mu.Lock()
	c.onTask = f
	c.mu.Unlock()
	return c
}

// IdleFor returns how long the fetches of c have found every queue empty
// or paused: the time since the first empty fetch after the last one
// that returned a task, 0 when the last fetch returned a task or c has
// not fetched yet.
func (c *MultiFetch) IdleFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.idle {
		return 0
	}
	return time.Since(c.idleSince)
}
