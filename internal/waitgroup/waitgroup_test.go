package waitgroup_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/waitgroup"
)

func TestWaitDone(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	wg.Add(1)
	release := make(chan struct{})
	go func() {
		<-release
		wg.Done()
	}()
	close(release)
	if err := waitgroup.Wait(t.Context(), &wg); err != nil {
		t.Fatalf("Wait: %v; want nil once the group is done", err)
	}
	if !waitgroup.WaitTimeout(&wg, time.Minute) {
		t.Fatal("WaitTimeout on a done group: false")
	}
}

func TestWaitContextEnds(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	wg.Add(1)
	defer wg.Done()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := waitgroup.Wait(ctx, &wg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v; want context.Canceled", err)
	}
	if waitgroup.WaitTimeout(&wg, time.Millisecond) {
		t.Fatal("WaitTimeout on a pending group: true")
	}
}
