package workercmd

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/processors"
)

func TestRetryDelayFallsBackToBackoff(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask("x:y", nil)
	// asynq's default backoff for the first retry is 15–45 s; a plain error
	// has no Retry-After, so retryDelay stays in that range.
	d := retryDelay(0, errors.New("boom"), task)
	if d < 15*time.Second || d > 46*time.Second {
		t.Fatalf("retryDelay(0, plain error) = %s; want asynq's 15–45 s backoff", d)
	}
}

func TestRetryDelayHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask("http:request", nil)
	for _, tt := range []struct {
		retryAfter time.Duration
		want       time.Duration
	}{
		{10 * time.Minute, 10 * time.Minute},
		{48 * time.Hour, maxRetryAfter},
	} {
		err := fmt.Errorf("attempt: %w", &processors.StatusError{StatusCode: 429, Status: "429 Too Many Requests", RetryAfter: tt.retryAfter})
		if got := retryDelay(0, err, task); got != tt.want {
			t.Errorf("Retry-After %s: delay %s; want %s", tt.retryAfter, got, tt.want)
		}
	}
}
