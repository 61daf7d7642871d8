// Package waitgroup waits for a sync.WaitGroup with a bound: until the
// group is done or a context ends, whichever comes first.
package waitgroup

import (
	"context"
	"sync"
	"time"
)

// Wait waits until wg is done or ctx ends. It returns nil when wg is done
// and ctx.Err() otherwise. When ctx ends first, a goroutine keeps waiting
// for wg and exits when wg is done.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done: // both at once: the group is done, say so
			return nil
		default:
			return ctx.Err()
		}
	}
}

// WaitTimeout waits until wg is done or timeout has passed. It reports
// whether wg is done.
func WaitTimeout(wg *sync.WaitGroup, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Wait(ctx, wg) == nil
}
