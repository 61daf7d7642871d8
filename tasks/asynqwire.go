package tasks

// This file writes tasks into Redis the way asynq v0.26.0's client does.
// Enqueue and EnqueueMany do not go through asynq's client: they encode
// asynq's task record themselves and store it with tuskq's enqueue script
// (enqueuescript.go), which does what asynq's enqueue scripts do, with a
// deadline and a re-send check added, for one task or, for EnqueueMany,
// for up to BulkBatchSize tasks per round trip (asynq v0.26.0 has no batch
// enqueue).
//
// Everything here mirrors asynq v0.26.0 and must change with it:
//
//   - the task record is asynq's TaskMessage protobuf
//     (internal/proto/asynq.proto), encoded field by field;
//   - the keys are asynq's layout (internal/base/base.go): every key of a
//     queue starts with "asynq:{<queue>}:", so in Redis Cluster all keys of
//     one queue share a hash slot, and the set "asynq:queues" lists the
//     queues;
//   - the script stores the fields asynq's enqueue, enqueue-unique,
//     schedule and schedule-unique scripts (internal/rdb/rdb.go) store,
//     under the same keys, plus one field asynq never reads;
//   - the go-redis clients NewClient builds for asynq's RedisConnOpt types
//     (conn.go) mirror their MakeRedisClient.
//
// TestAsynqVersionPinned fails when go.mod moves to another asynq version,
// and TestEnqueueManyMatchesAsynq reads every field of tasks stored by both
// paths back through asynq's Inspector, compares them with what asynq's
// own client stores, and has a real asynq server process them.

import (
	"crypto/md5"
	"encoding/hex"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// asynqLayoutVersion is the asynq version whose Redis layout (task record,
// keys and the fields of the task hash) Enqueue and EnqueueMany write.
const asynqLayoutVersion = "v0.26.0"

// asynq's defaults (client.go), applied when the request and its route set
// nothing.
const (
	asynqDefaultQueue    = "default"
	asynqDefaultMaxRetry = 25
	asynqDefaultTimeout  = 30 * time.Minute
)

// asynq's key layout (internal/base/base.go).
const keyAllQueues = "asynq:queues"

func queueKeyPrefix(queue string) string { return "asynq:{" + queue + "}:" }

func taskKey(queue, id string) string { return queueKeyPrefix(queue) + "t:" + id }

func pendingKey(queue string) string { return queueKeyPrefix(queue) + "pending" }

func scheduledKey(queue string) string { return queueKeyPrefix(queue) + "scheduled" }

// uniqueKey is base.UniqueKey: a nil payload has no checksum part, an empty
// one has the MD5 of nothing.
func uniqueKey(queue, taskType string, payload []byte) string {
	if payload == nil {
		return queueKeyPrefix(queue) + "unique:" + taskType + ":"
	}
	sum := md5.Sum(payload)
	return queueKeyPrefix(queue) + "unique:" + taskType + ":" + hex.EncodeToString(sum[:])
}

// taskMessage holds the fields of asynq's TaskMessage that an enqueue sets.
// The others (retried, error_msg, last_failed_at, completed_at, group_key)
// are zero on a new task, and proto3 leaves zero fields out.
type taskMessage struct {
	Type      string
	Payload   []byte
	Headers   map[string]string
	ID        string
	Queue     string
	Retry     int
	Timeout   int64 // seconds; 0 means none
	Deadline  int64 // Unix seconds; 0 means none
	UniqueKey string
	Retention int64 // seconds
}

// Field numbers of asynq's TaskMessage (internal/proto/asynq.proto).
const (
	fieldType      protowire.Number = 1
	fieldPayload   protowire.Number = 2
	fieldID        protowire.Number = 3
	fieldQueue     protowire.Number = 4
	fieldRetry     protowire.Number = 5
	fieldTimeout   protowire.Number = 8
	fieldDeadline  protowire.Number = 9
	fieldUniqueKey protowire.Number = 10
	fieldRetention protowire.Number = 12
	fieldHeaders   protowire.Number = 15
	// map<string, string> entries are messages of key = 1, value = 2.
	fieldMapKey   protowire.Number = 1
	fieldMapValue protowire.Number = 2
)

// appendProto appends m in protobuf wire format, as proto.Marshal of
// asynq's TaskMessage does (up to field order, which decoders ignore).
func (m *taskMessage) appendProto(b []byte) []byte {
	b = appendStringField(b, fieldType, m.Type)
	if len(m.Payload) > 0 {
		b = protowire.AppendTag(b, fieldPayload, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Payload)
	}
	b = appendStringField(b, fieldID, m.ID)
	b = appendStringField(b, fieldQueue, m.Queue)
	if m.Retry != 0 {
		b = protowire.AppendTag(b, fieldRetry, protowire.VarintType)
		// int32 fields are sign-extended to 64 bits.
		b = protowire.AppendVarint(b, uint64(int64(int32(m.Retry))))
	}
	b = appendInt64Field(b, fieldTimeout, m.Timeout)
	b = appendInt64Field(b, fieldDeadline, m.Deadline)
	b = appendStringField(b, fieldUniqueKey, m.UniqueKey)
	b = appendInt64Field(b, fieldRetention, m.Retention)
	for k, v := range m.Headers {
		n := protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
			protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
		b = protowire.AppendTag(b, fieldHeaders, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = protowire.AppendTag(b, fieldMapKey, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// protoSize is an upper bound of the encoded size of m, to size buffers.
func (m *taskMessage) protoSize() int {
	n := 6*11 + len(m.Type) + len(m.Payload) + len(m.ID) + len(m.Queue) + len(m.UniqueKey) + 4*11
	for k, v := range m.Headers {
		n += 3*5 + len(k) + len(v)
	}
	return n
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendInt64Field(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}
