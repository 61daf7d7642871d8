package wasm

import (
	"context"

	"github.com/tuskq/tuskq/plugins"
)

// Grow adds n fresh instances to the idle pool of inst (a loaded wasm
// plugin), past limits.max_concurrency, for the memory benchmark.
func Grow(ctx context.Context, inst plugins.Instance, n int) error {
	p := inst.(*pool)
	for range n {
		g, err := p.instantiate(ctx)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.idle = append(p.idle, g)
		p.mu.Unlock()
	}
	return nil
}
