//go:build wasip1

// Command wasm-hello is an example wasm plugin in Go: hello:wasm greets the
// name in its payload, logging through the worker and reporting progress.
// Build it with make plugins, or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
package main

import (
	"errors"
	"strings"

	"github.com/tuskq/tuskq/plugins/wasm/guest"
)

func init() {
	guest.Handle(func(t *guest.Task) ([]byte, error) {
		name := strings.TrimSpace(string(t.Payload))
		if name == "" {
			return nil, guest.SkipRetry(errors.New("the payload must be a name"))
		}
		greeting := "Hello"
		if g, ok := t.Config()["greeting"].(string); ok && g != "" {
			greeting = g
		}
		guest.Progress(50, "greeting "+name)
		guest.Log(guest.LevelInfo, "greeted "+name)
		return []byte(greeting + ", " + name + "!"), nil
	})
}

func main() {}
