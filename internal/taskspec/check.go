package taskspec

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Expected values, as the messages and the configuration phrase them.
var (
	expectQueue     = "a queue name of printable UTF-8 without spaces, control characters or braces"
	expectDelay     = "a delay from 0s to " + MaxDelay.String() + " (1 year)"
	expectAt        = "a time no later than 1 year from now"
	expectMaxRetry  = "a whole number from 0 to " + strconv.Itoa(MaxRetry)
	expectTimeout   = seconds(MaxTimeout, "24h")
	expectUnique    = seconds(MaxUniqueTTL, "30 days")
	expectUniqueKey = "1 to " + strconv.Itoa(MaxUniqueKeyLength) + " bytes of printable UTF-8"
	expectRetention = seconds(MaxRetention, "30 days")
	expectID        = "1 to " + strconv.Itoa(MaxIDLength) + " bytes of printable UTF-8"
)

func seconds(maxD time.Duration, human string) string {
	return "a whole number of seconds from 1s to " + maxD.String() + " (" + human + ")"
}

// notUTF8 is the problem of a string that is not valid UTF-8, at every
// door: the value is not shown, as it cannot be shown faithfully.
const notUTF8 = "is not valid UTF-8; send UTF-8 text"

// CheckType returns what is wrong with a task type, or "" when it is
// valid: 1 to MaxTypeLength bytes of printable UTF-8 without spaces or '*'
// (reserved for route patterns). Invalid UTF-8 is refused, never replaced.
func CheckType(s string) string {
	switch {
	case s == "":
		return `the type is empty; use a name such as "email:send"`
	case len(s) > MaxTypeLength:
		return fmt.Sprintf("%q is %d bytes long; the limit is %d", truncate(s, 20)+"…", len(s), MaxTypeLength)
	case !utf8.ValidString(s):
		return notUTF8
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '*' || r == utf8.RuneError {
			return fmt.Sprintf("%q contains %q; use letters, digits and punctuation other than '*'", s, r)
		}
	}
	return ""
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidQueue reports whether s can name a queue: not empty, valid UTF-8,
// no white space, control characters, U+FFFD or braces (braces change
// Redis Cluster hash slots).
func ValidQueue(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' || r == utf8.RuneError
	})
}

// checker collects problems.
type checker struct {
	prefix   string
	problems Problems
}

func (c *checker) add(field, expected, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: c.prefix + field, Detail: fmt.Sprintf(format, args...), Expected: expected})
}

// bad reports a value outside its range: "<value> is <why>; expected <expected>".
func (c *checker) bad(field, expected, value, why string) {
	c.add(field, expected, "%s is %s; expected %s", value, why, expected)
}

// CheckOptions checks options against the rules every door shares and
// returns every problem, naming the fields as a task object does. now is
// the time at is measured from. Zero values are "not set" and pass.
func CheckOptions(o Options, now time.Time) Problems {
	c := &checker{}
	c.options(o, now)
	return c.problems
}

func (c *checker) options(o Options, now time.Time) {
	if o.Queue != "" {
		c.queue(o.Queue)
	}
	switch {
	case o.ProcessIn < 0:
		c.bad(FieldDelay, expectDelay, o.ProcessIn.String(), "negative")
	case o.ProcessIn > MaxDelay:
		c.bad(FieldDelay, expectDelay, o.ProcessIn.String(), "more than "+MaxDelay.String())
	}
	if !o.ProcessAt.IsZero() && o.ProcessAt.After(now.Add(MaxDelay)) {
		c.bad(FieldAt, expectAt, o.ProcessAt.UTC().Format(time.RFC3339), "more than 1 year ahead")
	}
	if !o.ProcessAt.IsZero() && o.ProcessIn != 0 {
		c.add(FieldAt, "", "delay and at cannot be used together; pick one")
	}
	if o.MaxRetry != nil {
		c.maxRetry(int64(*o.MaxRetry))
	}
	c.seconds(FieldTimeout, o.Timeout, MaxTimeout, expectTimeout)
	c.seconds(FieldUnique, o.UniqueTTL, MaxUniqueTTL, expectUnique)
	if o.UniqueUntilEnd && o.UniqueTTL != 0 {
		c.add(FieldUnique, expectUnique, "until_end and a duration cannot be used together; pick one")
	}
	if o.UniqueKey != "" {
		c.uniqueKey(o.UniqueKey)
	}
	c.seconds(FieldRetention, o.Retention, MaxRetention, expectRetention)
	if o.TaskID != "" {
		c.id(o.TaskID)
	}
	for _, k := range sortedKeys(o.Headers) {
		c.header(k, o.Headers[k])
	}
}

// CheckRoute checks the defaults of a route (queue, max_retry, timeout and
// unique): the same rules as CheckOptions.
func CheckRoute(queue string, maxRetry *int, timeout, unique time.Duration) Problems {
	return CheckOptions(Options{Queue: queue, MaxRetry: maxRetry, Timeout: timeout, UniqueTTL: unique}, time.Time{})
}

func (c *checker) queue(s string) {
	if strings.TrimSpace(s) == "" {
		c.add(FieldQueue, expectQueue, "the queue name is blank; name a queue such as default, or leave it out to use the route's")
		return
	}
	if !ValidQueue(s) {
		c.add(FieldQueue, expectQueue, "%q is not a queue name; expected %s", s, expectQueue)
	}
}

func (c *checker) maxRetry(n int64) {
	switch {
	case n < 0:
		c.bad(FieldMaxRetry, expectMaxRetry, strconv.FormatInt(n, 10), "negative")
	case n > MaxRetry:
		c.bad(FieldMaxRetry, expectMaxRetry, strconv.FormatInt(n, 10), "more than "+strconv.Itoa(MaxRetry)+" (asynq stores 32 bits)")
	}
}

// seconds checks a duration asynq stores in whole seconds; 0 is "not set".
func (c *checker) seconds(field string, d, maxD time.Duration, expected string) {
	switch {
	case d == 0:
	case d < 0:
		c.bad(field, expected, d.String(), "negative")
	case d < time.Second:
		c.bad(field, expected, d.String(), "less than 1s")
	case d%time.Second != 0:
		c.bad(field, expected, d.String(), "not a whole number of seconds (asynq stores seconds; "+d.Round(time.Second).String()+" is)")
	case d > maxD:
		c.bad(field, expected, d.String(), "more than "+maxD.String())
	}
}

func (c *checker) id(s string) {
	switch {
	case strings.TrimSpace(s) == "":
		c.add(FieldID, expectID, "the task ID is blank; leave it out to get a generated one")
	case len(s) > MaxIDLength:
		c.add(FieldID, expectID, "the task ID is %d bytes long; the limit is %d", len(s), MaxIDLength)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }):
		c.add(FieldID, expectID, "%q has characters that are not printable UTF-8; use letters, digits and punctuation", s)
	}
}

func (c *checker) uniqueKey(s string) {
	switch {
	case strings.TrimSpace(s) == "":
		c.add(FieldUniqueKey, expectUniqueKey, "the unique key is blank; name the task's uniqueness (an order number, say), or leave it out")
	case len(s) > MaxUniqueKeyLength:
		c.add(FieldUniqueKey, expectUniqueKey, "the unique key is %d bytes long; the limit is %d", len(s), MaxUniqueKeyLength)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }):
		c.add(FieldUniqueKey, expectUniqueKey, "%q has characters that are not printable UTF-8; use letters, digits and punctuation", s)
	}
}

func (c *checker) header(k, v string) {
	switch {
	case k == "":
		c.add(FieldHeaders, "", "a header name is empty")
	case strings.EqualFold(k, HeaderTraceparent) && !ValidTraceparent(v):
		c.add(FieldTraceparent, "", "%q is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>", v)
	}
}

// traceContext is the W3C Trace Context propagator (stateless).
var traceContext propagation.TraceContext

// ValidTraceparent reports whether s is a valid W3C traceparent.
func ValidTraceparent(s string) bool {
	return TraceSpan(s).IsValid()
}

// TraceSpan returns the remote span context of a traceparent; invalid when
// s is not one.
func TraceSpan(s string) trace.SpanContext {
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{HeaderTraceparent: s})
	return trace.SpanContextFromContext(ctx)
}
