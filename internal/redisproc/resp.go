package redisproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReplyError is an error reply (-ERR …) of a Redis server.
type ReplyError string

// Error returns the reply text without the leading '-'.
func (e ReplyError) Error() string { return string(e) }

// Do sends one command to the Redis server (or sentinel) at addr on a fresh
// connection and returns its reply: a string for simple and bulk strings,
// an int64 for integers, a []any for arrays, nil for a null reply, and a
// ReplyError for an error reply. It is for setting up and probing test
// servers, not for traffic: each call dials. Without a deadline on ctx the
// call is bounded by 5 s.
func Do(ctx context.Context, addr string, args ...string) (any, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redisproc: dial %s: %w", addr, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, fmt.Errorf("redisproc: %s %s: %w", addr, strings.Join(args, " "), err)
	}
	v, err := readReply(bufio.NewReader(c))
	if err != nil {
		var re ReplyError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("redisproc: %s %s: %w", addr, strings.Join(args, " "), err)
	}
	return v, nil
}

// doString is Do for commands that reply with a string (INFO, CLUSTER INFO).
func doString(ctx context.Context, addr string, args ...string) (string, error) {
	v, err := Do(ctx, addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redisproc: %s %s: reply %v is not a string", addr, strings.Join(args, " "), v)
	}
	return s, nil
}

// readReply parses one RESP2 reply. An error reply is returned as a
// ReplyError error; errors nested in arrays are returned as values.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			v, err := readReply(r)
			var re ReplyError
			if errors.As(err, &re) {
				out[i] = re
				continue
			}
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
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

// pairs turns a flat [k1 v1 k2 v2 …] array reply into a map.
func pairs(v any) map[string]string {
	arr, _ := v.([]any)
	m := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		val, _ := arr[i+1].(string)
		m[k] = val
	}
	return m
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
				return fmt.Errorf("redisproc: %s: %w (last: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("redisproc: %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
