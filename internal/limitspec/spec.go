// Package limitspec defines tuskq's fleet-wide limits and parses them
// (Parse, ParseRate): the one decoder for the configuration file, the CLI,
// the HTTP API and Redis. It is pure (no Redis): the configuration imports
// it without the limiter (package limits, which enforces the limits).
package limitspec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrBadLimit is wrapped by every error about a limit's definition.
var ErrBadLimit = errors.New("bad limit")

// Rate is a number of starts per period: 100/s is {N: 100, Per: time.Second}.
// The zero Rate means no rate limit.
type Rate struct {
	N   int
	Per time.Duration
}

// IsZero reports whether r is no rate limit.
func (r Rate) IsZero() bool { return r.N == 0 }

// Interval is the time between two starts at the steady rate (GCRA's
// emission interval).
func (r Rate) Interval() time.Duration { return r.Per / time.Duration(r.N) }

// String writes r as ParseRate reads it: "100/s", "5/m", "2/h", or
// "3/1m30s" for other periods; "" for the zero Rate.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	unit := r.Per.String()
	switch r.Per {
	case time.Second:
		unit = "s"
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return strconv.Itoa(r.N) + "/" + unit
}

// Bounds of a rate.
const (
	maxRateN   = 1_000_000_000
	minRatePer = time.Millisecond
	maxRatePer = 24 * time.Hour
)

// ParseRate reads a rate: a count, a slash and a period, the period being
// s, m or h (also sec, second, min, minute, hour) or a Go duration ("10s",
// "1m30s"): "100/s", "6000/m", "5/10s". The count is 1 to 1e9, at most
// one start per microsecond, and the period 1ms to 24h.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("%w: rate %q: write a count per period, such as 100/s, 50/m or 10/h", ErrBadLimit, s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > maxRateN {
		return Rate{}, fmt.Errorf("%w: rate %q: the count before / must be a whole number from 1 to %d", ErrBadLimit, s, maxRateN)
	}
	var per time.Duration
	switch u := strings.TrimSpace(unit); u {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		per, err = time.ParseDuration(u)
		if err != nil {
			return Rate{}, fmt.Errorf("%w: rate %q: the period after / must be s, m, h or a duration such as 10s", ErrBadLimit, s)
		}
	}
	if per < minRatePer || per > maxRatePer {
		return Rate{}, fmt.Errorf("%w: rate %q: the period must be from %s to %s", ErrBadLimit, s, minRatePer, maxRatePer)
	}
	r := Rate{N: n, Per: per}
	if r.Interval() < time.Microsecond {
		return Rate{}, fmt.Errorf("%w: rate %q is more than one start per microsecond", ErrBadLimit, s)
	}
	return r, nil
}

// Defaults of a limit's optional fields.
const (
	// DefaultBurst is the burst of a rate limit that sets none: starts are
	// spaced evenly, one every Rate.Interval.
	DefaultBurst = 1
	// DefaultMaxKeys bounds the key values a keyed limit tracks at once.
	DefaultMaxKeys = 10000
)

// Limit is one fleet-wide limit: at most Concurrency tasks running at once
// and at most Rate starts, among the tasks it matches (by type pattern,
// queue, or both), separately per value of Key when set.
type Limit struct {
	// Name identifies the limit in the configuration, in Redis keys
	// ({tuskq:limit:NAME}), in logs, metrics and commands.
	Name string `json:"name"`
	// Type is a task type ("report:build") or a prefix pattern
	// ("report:*", "*"), matched as routes are; empty matches any type.
	Type string `json:"type,omitempty"`
	// Queue restricts the limit to tasks of one queue; empty matches any.
	Queue string `json:"queue,omitempty"`
	// Concurrency, when positive, caps the tasks running at once.
	Concurrency int `json:"concurrency,omitempty"`
	// Rate, when set, caps the starts per period.
	Rate Rate `json:"-"`
	// Burst is how many starts the rate allows at once after a quiet
	// period (DefaultBurst when 0).
	Burst int `json:"burst,omitempty"`
	// Key, when set, applies the limit to each value separately:
	// "payload.FIELD" (a field of the JSON payload object, dotted for
	// nested objects: "payload.customer.id") or "header.NAME" (a task
	// header); either inside host(…) ("host(payload.url)") keys by the
	// host (and port) of the URL it holds: one limit per target host.
	Key string `json:"key,omitempty"`
	// MaxKeys bounds the values of Key tracked at once (DefaultMaxKeys
	// when 0); tasks with further values share one "(other)" bucket.
	MaxKeys int `json:"max_keys,omitempty"`
}

// Raw is a limit written as strings, as the configuration file, the
// command line and the HTTP API carry it.
type Raw struct {
	Name        string `json:"name" koanf:"name"`
	Type        string `json:"type,omitempty"`
	Queue       string `json:"queue,omitempty"`
	Concurrency string `json:"concurrency,omitempty"`
	Rate        string `json:"rate,omitempty"`
	Burst       string `json:"burst,omitempty"`
	Key         string `json:"key,omitempty"`
	MaxKeys     string `json:"max_keys,omitempty"`
}

// nameRE is what a limit name may be: it is part of Redis keys and URLs.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Parse checks r and returns its Limit. The error names the field at
// fault (as "limits[NAME].FIELD") and the fix.
func Parse(r Raw) (Limit, error) {
	l := Limit{Name: r.Name, Type: r.Type, Queue: r.Queue, Key: r.Key}
	where := fmt.Sprintf("limits[%s]", r.Name)
	if !nameRE.MatchString(r.Name) {
		return Limit{}, fmt.Errorf("%w: %s.name %q: use 1 to 64 letters, digits, '_', '.', ':' or '-'", ErrBadLimit, where, r.Name)
	}
	if r.Type == "" && r.Queue == "" {
		return Limit{}, fmt.Errorf("%w: %s: set type (a task type or a pattern such as report:*) or queue, or both", ErrBadLimit, where)
	}
	if i := strings.IndexByte(r.Type, '*'); i >= 0 && i != len(r.Type)-1 {
		return Limit{}, fmt.Errorf("%w: %s.type %q: '*' may only end a pattern, as in report:*", ErrBadLimit, where, r.Type)
	}
	var err error
	if l.Concurrency, err = optInt(r.Concurrency, 1_000_000); err != nil {
		return Limit{}, fmt.Errorf("%w: %s.concurrency %q: %w", ErrBadLimit, where, r.Concurrency, err)
	}
	if r.Rate != "" {
		if l.Rate, err = ParseRate(r.Rate); err != nil {
			return Limit{}, fmt.Errorf("%s.rate: %w", where, err)
		}
	}
	if l.Burst, err = optInt(r.Burst, maxRateN); err != nil {
		return Limit{}, fmt.Errorf("%w: %s.burst %q: %w", ErrBadLimit, where, r.Burst, err)
	}
	if l.Burst > 0 && l.Rate.IsZero() {
		return Limit{}, fmt.Errorf("%w: %s.burst is set without a rate: set rate too, or remove burst", ErrBadLimit, where)
	}
	if l.Concurrency == 0 && l.Rate.IsZero() {
		return Limit{}, fmt.Errorf("%w: %s: set concurrency (such as 2) or rate (such as 100/s), or both", ErrBadLimit, where)
	}
	if r.Key != "" && !validKey(r.Key) {
		return Limit{}, fmt.Errorf("%w: %s.key %q: write payload.FIELD (a field of the JSON payload) or header.NAME, or host(payload.FIELD) for the host of the URL there", ErrBadLimit, where, r.Key)
	}
	if l.MaxKeys, err = optInt(r.MaxKeys, 10_000_000); err != nil {
		return Limit{}, fmt.Errorf("%w: %s.max_keys %q: %w", ErrBadLimit, where, r.MaxKeys, err)
	}
	if l.MaxKeys > 0 && r.Key == "" {
		return Limit{}, fmt.Errorf("%w: %s.max_keys is set without a key: set key too, or remove max_keys", ErrBadLimit, where)
	}
	return l, nil
}

// optInt reads an optional positive integer up to limit ("" is 0).
func optInt(s string, limit int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("must be a whole number from 1 to %d", limit)
	}
	return n, nil
}

// validKey reports whether k is payload.PATH or header.NAME, or either
// inside host(…).
func validKey(k string) bool {
	k, _ = hostKey(k)
	if rest, ok := strings.CutPrefix(k, "payload."); ok {
		for p := range strings.SplitSeq(rest, ".") {
			if p == "" {
				return false
			}
		}
		return true
	}
	rest, ok := strings.CutPrefix(k, "header.")
	return ok && rest != ""
}

// Raw returns l written as strings (Parse(l.Raw()) is l).
func (l Limit) Raw() Raw {
	r := Raw{Name: l.Name, Type: l.Type, Queue: l.Queue, Rate: l.Rate.String(), Key: l.Key}
	if l.Concurrency > 0 {
		r.Concurrency = strconv.Itoa(l.Concurrency)
	}
	if l.Burst > 0 {
		r.Burst = strconv.Itoa(l.Burst)
	}
	if l.MaxKeys > 0 {
		r.MaxKeys = strconv.Itoa(l.MaxKeys)
	}
	return r
}

// Matches reports whether a task of taskType in queue falls under l.
func (l Limit) Matches(taskType, queue string) bool {
	if l.Queue != "" && l.Queue != queue {
		return false
	}
	if l.Type == "" || l.Type == taskType {
		return true
	}
	prefix, ok := strings.CutSuffix(l.Type, "*")
	return ok && strings.HasPrefix(taskType, prefix)
}

// BurstOrDefault is l.Burst or its default.
func (l Limit) BurstOrDefault() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return DefaultBurst
}

// MaxKeysOrDefault is l.MaxKeys or its default.
func (l Limit) MaxKeysOrDefault() int {
	if l.MaxKeys > 0 {
		return l.MaxKeys
	}
	return DefaultMaxKeys
}
