package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownKey is matched by errors.Is for every error about a key, an
// environment variable or a flag binding that names no configuration key.
var ErrUnknownKey = errors.New("unknown key")

// FieldError is one invalid value.
type FieldError struct {
	// Key is the key path of the value, such as "redis.mode".
	Key string
	// Value is the offending value, or "****" for a secret.
	Value any
	// Expected says what would be accepted.
	Expected string
	// Source is where the value came from: a file path, an environment
	// variable, or a flag. Empty for defaults and for Validate.
	Source string
}

// Error formats the problem as "[source: ]key: value is not valid; expected ...".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	key := e.Key
	if q := strconv.Quote(key); q[1:len(q)-1] != key {
		key = q // invisible or control characters in a route pattern or queue name
	}
	fmt.Fprintf(&b, "%s: %s is not valid; expected %s", key, display(e.Value), e.Expected)
	return b.String()
}

// ValidationError lists every invalid value of a configuration.
type ValidationError struct {
	// Problems holds one entry per invalid value, in key order.
	Problems []*FieldError
}

// Error formats every problem on its own line, each prefixed by "config: ".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "config: " + p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns every problem, so that errors.As finds a *FieldError in a
// ValidationError and errors.Is looks through each.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// unknownKeyError is an unknown key in a file or --set, or an unknown
// environment variable.
type unknownKeyError struct {
	msg string
}

func (e *unknownKeyError) Error() string { return e.msg }

// Is reports whether target is ErrUnknownKey.
func (e *unknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// problems collects the errors of one load.
type problems struct {
	errs []error
}

// bad records an invalid value.
func (p *problems) bad(source, key string, value any, exp string, secret bool) {
	if secret {
		value = maskValue
	}
	p.errs = append(p.errs, fmt.Errorf("config: %w", &FieldError{Key: key, Value: value, Expected: exp, Source: source}))
}

// unknown records an unknown key with the closest valid one.
func (p *problems) unknown(format string, args ...any) {
	p.errs = append(p.errs, &unknownKeyError{msg: "config: " + fmt.Sprintf(format, args...)})
}

// err returns all problems joined, or nil.
func (p *problems) err() error {
	return errors.Join(p.errs...)
}
