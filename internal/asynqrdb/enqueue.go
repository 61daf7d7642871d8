package asynqrdb

// This file holds tuskq's enqueue script and its contract, and lays out
// one task for it the way asynq v0.26.0's client writes the task
// (client.go EnqueueContext, newTaskInfo). run.go runs it.

import (
	"encoding/hex"
	"time"

	"github.com/hibiken/asynq"
)

// EnqueueField is the field of the task hash holding the nonce of the call
// that stored the task. asynq reads only its own fields (msg, state,
// pending_since, unique_key, ...) by name, never the whole hash, so the
// extra field is invisible to asynq servers, the Inspector and asynqmon.
const EnqueueField = "tuskq_enq"

// scriptEnqueue stores tasks of one queue, as asynq v0.26.0's enqueue,
// enqueue-unique, schedule and schedule-unique scripts (internal/rdb/rdb.go)
// store them: the same fields of the task hash, the same keys. Enqueue runs
// it for one task, EnqueueMany for a pipeline's worth (all keys of a queue
// share a hash slot). It differs from asynq's scripts in three ways:
//
//   - each task carries a nonce of its enqueue call, stored in the task hash
//     as tuskq_enq. When the task key exists the task answers 2 if the
//     nonce is its own (an earlier send of this very call stored it: a
//     re-send) and 0 otherwise (another task has the ID);
//   - ARGV[1] is a deadline in Unix ms (0: none), checked against Redis's
//     clock after the task key: run after it, the script stores nothing
//     and answers -2 for a task not stored yet. A re-send that runs late
//     still answers 2 for a task an earlier send stored in time, so -2
//     always means that no send of the call stored the task (any send
//     still waiting in Redis runs later still, and stores nothing either);
//   - a unique task's ID is checked before its uniqueness lock is taken
//     (asynq takes the lock first, and leaves it behind on an ID conflict).
//     A held lock answers -1;
//   - kinds 4 and 5 take a lock that lasts until the task ends (see
//     uniqueLua): it has no TTL, holds the ID of the task that took it, and
//     is held only while that task's hash says pending, scheduled, active,
//     retry or aggregating. A lock whose holder has ended (completed,
//     archived) or is gone (deleted by any tool, trimmed) is taken over.
//
// A stored task answers 1. The reply is an array of one answer per task.
// Each task stored pending pushes a token to its queue's wake-up marker
// (WakeKey, see wake.go), one LPUSH per marker for the whole call.
//
// Task i (from 1) has KEYS[4i-3] its task key, KEYS[4i-2] its queue's
// pending list (kinds 0 and 1) or scheduled set (kinds 2 and 3), KEYS[4i-1]
// its uniqueness lock (kinds 1, 3, 4 and 5; the list again otherwise), KEYS[4i]
// its queue's wake-up marker, and six
// arguments from ARGV[6i-4]: kind (0 enqueue, 1 enqueue unique, 2 schedule,
// 3 schedule unique, 4 enqueue unique until the end, 5 schedule unique
// until the end), nonce, task ID, task record, pending_since in Unix ns
// (kinds 0 and 1) or process-at in Unix s (kinds 2 and 3), lock TTL in s.
//
// With events (EnqueueCall.Events), one more key comes last: the queue's
// event stream (its hash tag is the queue's), and after the tasks'
// arguments come the stream's MAXLEN and one event per task (JSON, or ""
// for none): a task stored (answer 1) appends its event to the stream
// (XADD MAXLEN ~) in the same step, so no worker can see the task before
// its "enqueued" event is in the stream.
//
// TIME is called before any write: redis.replicate_commands makes that
// valid on Redis before 5 (it is the default since, and a no-op from 7).
const scriptEnqueue = `
redis.replicate_commands()` + enqueueLua + `
return tuskq_enqueue(KEYS, ARGV)
`

// enqueueLua defines tuskq_enqueue(KEYS, ARGV), the body of scriptEnqueue
// with its contract, for the scripts that enqueue tasks from Lua (the
// release of a workflow's steps, workflow_lua.go): every task tuskq makes
// pending goes through it and pushes its wake-up token.
const enqueueLua = wakeLua + uniqueLua + `
local function tuskq_enqueue(KEYS, ARGV)
local n = math.floor(#KEYS / 4)
local stream = false
if #KEYS % 4 == 1 then
	stream = KEYS[#KEYS]
end
local out = {}
local wakes = {}
local deadline = tonumber(ARGV[1])
local late = false
if deadline > 0 then
	local t = redis.call("TIME")
	late = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > deadline
end
for i = 1, n do
	local k, a = 4 * i - 3, 6 * i - 4
	local key, kind, nonce, id = KEYS[k], ARGV[a], ARGV[a + 1], ARGV[a + 2]
	local unique = kind ~= "0" and kind ~= "2"
	local pending = kind == "0" or kind == "1" or kind == "4"
	if redis.call("EXISTS", key) == 1 then
		if redis.call("HGET", key, "` + EnqueueField + `") == nonce then
			out[i] = 2
		else
			out[i] = 0
		end
	elseif late then
		out[i] = -2
	elseif (kind == "1" or kind == "3") and not redis.call("SET", KEYS[k + 2], id, "NX", "EX", ARGV[a + 5]) then
		out[i] = -1
	elseif (kind == "4" or kind == "5") and not tuskq_lock_until_end(KEYS[k + 2], id, key) then
		out[i] = -1
	else
		local f = {"msg", ARGV[a + 3], "state", "scheduled"}
		if pending then
			f = {"msg", ARGV[a + 3], "state", "pending", "pending_since", ARGV[a + 4]}
		end
		if unique then
			table.insert(f, "unique_key")
			table.insert(f, KEYS[k + 2])
		end
		table.insert(f, "` + EnqueueField + `")
		table.insert(f, nonce)
		redis.call("HSET", key, unpack(f))
		if pending then
			redis.call("LPUSH", KEYS[k + 1], id)
			wakes[KEYS[k + 3]] = (wakes[KEYS[k + 3]] or 0) + 1
		else
			redis.call("ZADD", KEYS[k + 1], ARGV[a + 4], id)
		end
		if stream and ARGV[6 * n + 2 + i] ~= "" then
			redis.call("XADD", stream, "MAXLEN", "~", ARGV[6 * n + 2], "*", "e", ARGV[6 * n + 2 + i])
		end
		out[i] = 1
	end
end
for key, c in pairs(wakes) do
	tuskq_wake(key, c)
end
return out
end
`

// Kinds of task in scriptEnqueue.
const (
	kindEnqueue        = 0
	kindEnqueueUnique  = 1
	kindSchedule       = 2
	kindScheduleUnique = 3
	// kindEnqueueUntilEnd and kindScheduleUntilEnd take a lock that lasts
	// until the task ends.
	kindEnqueueUntilEnd  = 4
	kindScheduleUntilEnd = 5
)

// Answers of the enqueue script per task (see scriptEnqueue).
const (
	// ReplyStored: the call stored the task.
	ReplyStored = 1
	// ReplyResent: an earlier send of the same call stored the task.
	ReplyResent = 2
	// ReplyIDTaken: another task has the ID (asynq.ErrTaskIDConflict).
	ReplyIDTaken = 0
	// ReplyDupe: a unique task's lock is held (asynq.ErrDuplicateTask).
	ReplyDupe = -1
	// ReplyTooLate: the script ran after its deadline and stored nothing.
	ReplyTooLate = -2
)

// NonceSize is the size of a nonce, in random bytes.
const NonceSize = 16

// NewNonce returns a random nonce for one enqueue call, drawn from fill.
func NewNonce(fill func([]byte)) string {
	var b [NonceSize]byte
	fill(b[:])
	return hex.EncodeToString(b[:])
}

// Task is a task to enqueue, with the options of asynq's client. Zero
// fields take asynq's defaults where asynq has one.
type Task struct {
	Type    string
	Payload []byte
	Headers map[string]string
	// ID is the task ID; the caller makes one (asynq: a random UUID).
	ID string
	// Queue is the queue; "" means DefaultQueue.
	Queue string
	// MaxRetry is the retry limit; nil means DefaultMaxRetry.
	MaxRetry *int
	// Timeout bounds one attempt; with no Deadline, 0 means DefaultTimeout.
	Timeout time.Duration
	// Deadline bounds every attempt; zero means none.
	Deadline time.Time
	// Retention is how long the completed task is kept.
	Retention time.Duration
	// UniqueTTL, when positive, makes the task unique for that long
	// (asynq's Unique): the lock expires after it, whatever became of the
	// task.
	UniqueTTL time.Duration
	// UniqueKey, when set, names the task's uniqueness lock instead of the
	// digest of its type and payload (CallerUniqueKey). Without UniqueTTL
	// the lock lasts until the task ends.
	UniqueKey string
	// UniqueUntilEnd makes the task unique until it ends: an equal task
	// (same queue and UniqueKey, or without one the same type and payload)
	// is refused while this one is pending, scheduled, active or waiting
	// for a retry, and accepted the moment it completes, is archived or is
	// deleted. It excludes UniqueTTL.
	UniqueUntilEnd bool
	// ProcessAt, when after the enqueue time, schedules the task.
	ProcessAt time.Time
}

// Enqueue is one task laid out for the enqueue script: its keys and
// arguments, and the TaskInfo asynq's client would return for it.
type Enqueue struct {
	// Info is what asynq's client returns (newTaskInfo).
	Info *asynq.TaskInfo
	// Keys are the task's four keys of the script's contract.
	Keys [4]string
	// Args are the task's six arguments of the script's contract; Args[1]
	// is the nonce.
	Args [6]any
}

// Prepare lays t out as asynq v0.26.0's client would write it at time now
// (client.go EnqueueContext, newTaskInfo): the task record, the keys and
// arguments of the enqueue script that stores it, and its TaskInfo. nonce
// is the enqueue call's (NewNonce).
func Prepare(now time.Time, t *Task, nonce string) Enqueue {
	queue := t.Queue
	if queue == "" {
		queue = DefaultQueue
	}
	retry := DefaultMaxRetry
	if t.MaxRetry != nil {
		retry = *t.MaxRetry
	}
	var deadline int64 // asynq's "no deadline" is Unix time 0
	if !t.Deadline.IsZero() {
		deadline = t.Deadline.Unix()
	}
	timeout := t.Timeout
	if deadline == 0 && timeout == 0 {
		timeout = DefaultTimeout
	}
	processAt := now
	if !t.ProcessAt.IsZero() {
		processAt = t.ProcessAt
	}
	msg := TaskMessage{
		Type:      t.Type,
		Payload:   t.Payload,
		Headers:   t.Headers,
		ID:        t.ID,
		Queue:     queue,
		Retry:     retry,
		Timeout:   int64(timeout.Seconds()),
		Deadline:  deadline,
		Retention: int64(t.Retention.Seconds()),
	}
	untilEnd := t.UniqueUntilEnd || t.UniqueKey != "" && t.UniqueTTL <= 0
	switch {
	case t.UniqueKey != "" && (untilEnd || t.UniqueTTL > 0):
		msg.UniqueKey = CallerUniqueKey(queue, t.UniqueKey)
	case untilEnd || t.UniqueTTL > 0:
		msg.UniqueKey = UniqueKey(queue, t.Type, t.Payload)
	}
	encoded := msg.AppendProto(make([]byte, 0, msg.ProtoSize()))

	info := &asynq.TaskInfo{
		ID:            t.ID,
		Queue:         queue,
		Type:          t.Type,
		Payload:       t.Payload,
		Headers:       t.Headers,
		State:         asynq.TaskStatePending,
		MaxRetry:      retry,
		Timeout:       time.Duration(msg.Timeout) * time.Second,
		Retention:     time.Duration(msg.Retention) * time.Second,
		NextProcessAt: now,
	}
	if deadline != 0 {
		info.Deadline = time.Unix(deadline, 0)
	}
	e := Enqueue{Info: info}
	scheduled := processAt.After(now)
	// See the contract of scriptEnqueue.
	list, timeArg, kind := PendingKey(queue), now.UnixNano(), kindEnqueue
	if scheduled {
		list, timeArg, kind = ScheduledKey(queue), processAt.Unix(), kindSchedule
	}
	lock, ttl := list, 0
	switch {
	case msg.UniqueKey != "" && untilEnd:
		lock, kind = msg.UniqueKey, kindEnqueueUntilEnd
		if scheduled {
			kind = kindScheduleUntilEnd
		}
	case msg.UniqueKey != "":
		lock, kind = msg.UniqueKey, kind+1 // kindEnqueueUnique, kindScheduleUnique
		ttl = int(t.UniqueTTL.Seconds())
		if scheduled {
			ttl = int(processAt.Add(t.UniqueTTL).Sub(now).Seconds())
		}
	}
	e.Keys = [4]string{TaskKey(queue, t.ID), list, lock, WakeKey(queue)}
	e.Args = [6]any{kind, nonce, t.ID, encoded, timeArg, ttl}
	if scheduled {
		info.State = asynq.TaskStateScheduled
		info.NextProcessAt = processAt
	}
	return e
}

// uniqueLua defines tuskq_lock_until_end(lock, id, taskKey) for the
// enqueue script: it takes the uniqueness lock lock for the task id (whose
// hash is taskKey) until the task ends, and reports whether it did.
//
// The lock is a string holding the holder's task ID, without a TTL, under
// the same key asynq's Unique would use (or CallerUniqueKey). It is
// refused while it has a TTL (asynq's Unique lock, which holds for its
// time whatever became of its task) and while its holder's hash, in the
// same queue, is in a state before the end: pending, scheduled, active,
// retry or aggregating. Otherwise (no lock, or a holder that completed,
// was archived or is gone: deleted from asynqmon, the Inspector or by
// hand, or trimmed from the archive) the lock is taken over. So a lock can
// never outlive its task, even when nothing released it; the worker
// releases it anyway the moment the task ends (asynq's done scripts do on
// completion, ReleaseOnArchive on archive).
const uniqueLua = `
local function tuskq_lock_until_end(lock, id, taskKey)
	local holder = redis.call("GET", lock)
	if holder then
		if redis.call("PTTL", lock) ~= -1 then
			return false
		end
		local state = redis.call("HGET", string.sub(taskKey, 1, #taskKey - #id) .. holder, "state")
		if state == "pending" or state == "scheduled" or state == "active" or state == "retry" or state == "aggregating" then
			return false
		end
	end
	redis.call("SET", lock, id)
	return true
end
`
