package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
)

// TestDocsListEveryKey keeps docs/configuration.md in step with Config: every
// key and its environment variable must be documented there.
func TestDocsListEveryKey(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := config.Keys()
	if len(keys) < 30 {
		t.Fatalf("Keys() returned %d keys; the schema lost some", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k.Path+"`") || !strings.Contains(string(doc), "`"+k.Env+"`") {
			t.Errorf("docs/configuration.md does not document `%s` / `%s`", k.Path, k.Env)
		}
	}
	var secrets []string
	for _, k := range keys {
		if k.Secret {
			secrets = append(secrets, k.Path)
		}
	}
	if strings.Join(secrets, ",") != "redis.password,redis.sentinel_password,worker.metrics_token,monitor.auth.users,monitor.auth.tokens,api.tokens,otel.headers" {
		t.Errorf("secret keys = %v", secrets)
	}
}
