package redisserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clientOptions are the go-redis options of the short-lived clients that
// set up and probe test servers: RESP2 (so array replies stay []any), no
// retries (a probe that fails says so), no CLIENT SETINFO.
func clientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:            addr,
		Protocol:        2,
		MaxRetries:      -1,
		PoolSize:        1,
		DialTimeout:     time.Second,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
		DisableIdentity: true,
	}
}

// Do sends one command to the Redis server (or sentinel) at addr on a fresh
// go-redis client and returns its reply as go-redis's Do does with RESP2:
// a string for simple and bulk strings, an int64 for integers, a []any for
// arrays and nil for a null reply. An error reply is returned as go-redis's
// redis.Error. It is for setting up and probing test servers, not for
// traffic: each call dials. Without a deadline on ctx the call is bounded
// by 5 s.
func Do(ctx context.Context, addr string, args ...string) (any, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	c := redis.NewClient(clientOptions(addr))
	defer c.Close()
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a
	}
	v, err := c.Do(ctx, vals...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			return nil, err
		}
		return nil, fmt.Errorf("redisserver: %s %s: %w", addr, strings.Join(args, " "), err)
	}
	return v, nil
}

// withClient calls f with a fresh go-redis client of the server at addr
// and closes the client afterwards.
func withClient(addr string, f func(*redis.Client) error) error {
	c := redis.NewClient(clientOptions(addr))
	defer c.Close()
	return f(c)
}

// info returns INFO section of the server at addr.
func info(ctx context.Context, addr, section string) (string, error) {
	var s string
	err := withClient(addr, func(c *redis.Client) (err error) {
		s, err = c.Info(ctx, section).Result()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("redisserver: %s INFO %s: %w", addr, section, err)
	}
	return s, nil
}

// sentinelClient returns a go-redis Sentinel client of the sentinel at
// addr; the caller closes it.
func sentinelClient(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(clientOptions(addr))
}

// infoField returns the value of field in an INFO-style "key:value" text.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// poll calls cond every interval until it returns true or an error that is
// final, ctx is done or the bound elapses (60 s when ctx has no deadline).
// The last non-final error is reported with the timeout.
func poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("redisserver: %s: %w (last: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("redisserver: %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
