package taskctx_test

import (
	"context"
	"testing"

	"github.com/tuskq/tuskq/internal/taskctx"
)

func TestHandedBack(t *testing.T) {
	t.Parallel()
	stopping := make(chan struct{})
	ctx, cancel := context.WithCancel(taskctx.WithStopping(t.Context(), stopping))
	if taskctx.HandedBack(ctx) {
		t.Fatal("HandedBack before cancel and stop = true")
	}
	cancel()
	if taskctx.HandedBack(ctx) {
		t.Fatal("HandedBack after a cancel without a stop = true: a cancelled task is not a shutdown")
	}
	close(stopping)
	if !taskctx.HandedBack(ctx) {
		t.Fatal("HandedBack after cancel and stop = false")
	}
	plain, cancelPlain := context.WithCancel(t.Context())
	cancelPlain()
	if taskctx.HandedBack(plain) {
		t.Fatal("HandedBack of a context without WithStopping = true")
	}
}
