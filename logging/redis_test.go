package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/logging"
)

func TestRedisLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := logging.New(&buf, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var _ interface {
		Printf(context.Context, string, ...any)
	} = logging.NewRedisLogger(l)
	_ = redis.SetLogger // the adapter is what cmd/* pass to redis.SetLogger
	logging.NewRedisLogger(l).Printf(t.Context(), "redis: %s: dial failed\n", "pool.go:770")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if m["msg"] != "redis: pool.go:770: dial failed" || m["level"] != "WARN" || m["component"] != "redis" {
		t.Fatalf("record = %v", m)
	}
}
