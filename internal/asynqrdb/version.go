package asynqrdb

import "time"

// LayoutVersion is the asynq version whose Redis layout (task record, keys,
// the fields of the task hash and the scripts) this package mirrors.
// TestAsynqVersionPinned fails when go.mod requires another one.
const LayoutVersion = "v0.26.0"

// asynq's defaults (client.go), applied by Prepare when the task sets
// nothing.
const (
	// DefaultQueue is the queue of a task that names none.
	DefaultQueue = "default"
	// DefaultMaxRetry is the retry limit of a task that sets none.
	DefaultMaxRetry = 25
	// DefaultTimeout is the timeout of a task with neither a timeout nor
	// a deadline.
	DefaultTimeout = 30 * time.Minute
)
