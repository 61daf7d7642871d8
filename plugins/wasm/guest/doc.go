// Package guest is the Go SDK for wasm plugins: it implements the wasm
// plugin ABI of docs/plugins.md ("The wasm ABI") so that a plugin is a
// function from a task to a result or an error.
//
// A plugin is a main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// It registers its handler in init (main is not called in a reactor):
//
//	//go:build wasip1
//
//	package main
//
//	import "github.com/tuskq/tuskq/plugins/wasm/guest"
//
//	func init() {
//		guest.Handle(func(t *guest.Task) ([]byte, error) {
//			guest.Log(guest.LevelInfo, "greeting "+string(t.Payload))
//			return []byte("hello " + string(t.Payload)), nil
//		})
//	}
//
//	func main() {}
//
// The package's code is built only for GOOS=wasip1 (this file aside), so
// that the module's ordinary build, vet and lint stay clean. See
// examples/plugins/wasm-hello.
package guest
