// Command native-hello is an example native tuskq plugin: a Go package
// main built with -buildmode=plugin (run "make plugins") that exports the
// variable Plugin. It handles native:hello tasks whose payload is
// {"name": "…"} and sets the result {"greeting": "…", "version": "…"},
// so that a hot reload shows which version served each task.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/plugins/native/sdk"
)

// version must equal the version in plugin.yaml: the worker refuses a
// library whose version differs from its manifest's.
const version = "1.0.0"

type hello struct{}

// Plugin is the symbol the worker's native runtime looks up.
var Plugin sdk.Plugin = hello{}

func (hello) Name() string        { return "native-hello" }
func (hello) Version() string     { return version }
func (hello) Description() string { return "greets by name (example native plugin)" }

// Validate checks the configuration: greeting must be a non-empty string.
func (hello) Validate(cfg map[string]any) error {
	g, ok := cfg["greeting"].(string)
	if !ok || g == "" {
		return fmt.Errorf("config.greeting: want a non-empty string, got %#v", cfg["greeting"])
	}
	return nil
}

// ProcessTask greets the payload's name with the configured greeting.
func (hello) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Name == "" {
		return fmt.Errorf("native-hello: payload must be {\"name\": \"…\"}: %w", asynq.SkipRetry)
	}
	greeting, _ := sdk.Config(ctx)["greeting"].(string)
	out, err := json.Marshal(map[string]string{"greeting": greeting + ", " + p.Name + "!", "version": version})
	if err != nil {
		return err
	}
	sdk.Logger(ctx).InfoContext(ctx, "greeted", "name", p.Name)
	sdk.SetResult(ctx, out)
	return nil
}

// main is required by package main and never runs in a plugin.
func main() {}
