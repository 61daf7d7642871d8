package asynqrdb

import "google.golang.org/protobuf/encoding/protowire"

// TaskMessage holds the fields of asynq's TaskMessage
// (internal/proto/asynq.proto) that an enqueue sets. The others (retried,
// error_msg, last_failed_at, completed_at, group_key) are zero on a new
// task, and proto3 leaves zero fields out.
type TaskMessage struct {
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
	fieldErrorMsg  protowire.Number = 7
	fieldTimeout   protowire.Number = 8
	fieldDeadline  protowire.Number = 9
	fieldUniqueKey protowire.Number = 10
	fieldRetention protowire.Number = 12
	fieldHeaders   protowire.Number = 15
	// map<string, string> entries are messages of key = 1, value = 2.
	fieldMapKey   protowire.Number = 1
	fieldMapValue protowire.Number = 2
)

// AppendProto appends m in protobuf wire format, as proto.Marshal of
// asynq's TaskMessage does (up to field order, which decoders ignore).
func (m *TaskMessage) AppendProto(b []byte) []byte {
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

// ProtoSize is an upper bound of the encoded size of m, to size buffers.
func (m *TaskMessage) ProtoSize() int {
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
