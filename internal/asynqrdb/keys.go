package asynqrdb

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
)

// asynq v0.26.0's key layout (internal/base/base.go). Every key of a queue
// starts with "asynq:{<queue>}:", so in Redis Cluster all keys of one
// queue share a hash slot and one script may touch them all.

// AllQueues is the set listing the queues (base.AllQueues); the Inspector
// and asynqmon list the queues it names.
const AllQueues = "asynq:queues"

// CancelChannel is the pub/sub channel on which asynq servers receive the
// IDs of active tasks to cancel (base.CancelChannel).
const CancelChannel = "asynq:cancel"

// QueueKeyPrefix is the prefix of every key of queue (base.QueueKeyPrefix).
func QueueKeyPrefix(queue string) string { return "asynq:{" + queue + "}:" }

// TaskKeyPrefix is the prefix of the task hashes of queue
// (base.TaskKeyPrefix); a task's key is the prefix and its ID.
func TaskKeyPrefix(queue string) string { return QueueKeyPrefix(queue) + "t:" }

// TaskKey is the hash of task id of queue (base.TaskKey).
func TaskKey(queue, id string) string { return TaskKeyPrefix(queue) + id }

// PendingKey is the list of the pending task IDs of queue
// (base.PendingKey); asynq pops from its right.
func PendingKey(queue string) string { return QueueKeyPrefix(queue) + "pending" }

// ActiveKey is the list of the active task IDs of queue (base.ActiveKey).
func ActiveKey(queue string) string { return QueueKeyPrefix(queue) + "active" }

// PausedKey exists while queue is paused (base.PausedKey).
func PausedKey(queue string) string { return QueueKeyPrefix(queue) + "paused" }

// LeaseKey is the sorted set of the active task IDs of queue scored by
// their lease expiry in Unix seconds (base.LeaseKey).
func LeaseKey(queue string) string { return QueueKeyPrefix(queue) + "lease" }

// ScheduledKey is the sorted set of the scheduled task IDs of queue scored
// by their process-at time in Unix seconds (base.ScheduledKey).
func ScheduledKey(queue string) string { return QueueKeyPrefix(queue) + "scheduled" }

// RetryKey is the sorted set of the task IDs of queue waiting for a retry
// (base.RetryKey).
func RetryKey(queue string) string { return QueueKeyPrefix(queue) + "retry" }

// ArchivedKey is the sorted set of the archived task IDs of queue
// (base.ArchivedKey).
func ArchivedKey(queue string) string { return QueueKeyPrefix(queue) + "archived" }

// ProcessedTotalKey is the counter of the tasks of queue processed since
// the queue was created (base.ProcessedTotalKey).
func ProcessedTotalKey(queue string) string { return QueueKeyPrefix(queue) + "processed" }

// FailedTotalKey is the counter of the failed attempts of tasks of queue
// since the queue was created (base.FailedTotalKey).
func FailedTotalKey(queue string) string { return QueueKeyPrefix(queue) + "failed" }

// UniqueKey is the uniqueness lock of a task (base.UniqueKey): a nil
// payload has no checksum part, an empty one has the MD5 of nothing.
func UniqueKey(queue, taskType string, payload []byte) string {
	if payload == nil {
		return QueueKeyPrefix(queue) + "unique:" + taskType + ":"
	}
	sum := md5.Sum(payload)
	return QueueKeyPrefix(queue) + "unique:" + taskType + ":" + hex.EncodeToString(sum[:])
}

// CallerUniqueKey is the uniqueness lock of the tasks of queue that name
// their lock with key (the task option unique_key) rather than by the
// digest of their type and payload. It lives in the queue's hash slot
// beside asynq's locks, under tuskq's own prefix, so no digest of asynq's
// can collide with it.
func CallerUniqueKey(queue, key string) string {
	return QueueKeyPrefix(queue) + "tuskq:unique:" + key
}

// QueueOfPendingKey returns q of PendingKey(q).
func QueueOfPendingKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "asynq:{")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}:pending")
}
