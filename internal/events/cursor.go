package events

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Cursor is a reader's position in the event log: the ID of the last
// entry read in each queue's stream. Its text form (String) is what
// GET /v1/events sends as each event's SSE id and takes back in
// Last-Event-ID: "queue=ID&queue=ID" in URL query encoding, or a bare
// stream ID ("1733600000000-0", or milliseconds alone) meaning that ID in
// every queue. A queue the cursor does not name starts at its floor: the
// smallest ID it names.
type Cursor struct {
	ids   map[string]string
	floor string
}

// ErrBadCursor is wrapped by the error of a cursor that cannot be parsed.
var ErrBadCursor = errors.New("bad event cursor")

// streamID matches a Redis stream ID, with or without its sequence part.
var streamID = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?$`)

// ParseCursor reads a cursor's text form (see Cursor). The empty string is
// an error: a reader without a cursor starts at the present.
func ParseCursor(s string) (Cursor, error) {
	s = strings.TrimSpace(s)
	if streamID.MatchString(s) {
		return Cursor{ids: map[string]string{}, floor: fullID(s)}, nil
	}
	vals, err := url.ParseQuery(s)
	if err != nil || len(vals) == 0 {
		return Cursor{}, fmt.Errorf("events: %w %q: want a stream ID (\"1733600000000-0\") or queue=ID pairs joined by '&'", ErrBadCursor, s)
	}
	c := Cursor{ids: make(map[string]string, len(vals))}
	for q, v := range vals {
		if q == "" || len(v) != 1 || !streamID.MatchString(v[0]) {
			return Cursor{}, fmt.Errorf("events: %w %q: queue %q needs exactly one stream ID such as 1733600000000-0", ErrBadCursor, s, q)
		}
		id := fullID(v[0])
		c.ids[q] = id
		if c.floor == "" || lessID(id, c.floor) {
			c.floor = id
		}
	}
	return c, nil
}

// cursorAt is a cursor at id in every queue.
func cursorAt(id string) Cursor { return Cursor{ids: map[string]string{}, floor: id} }

// fullID adds the sequence part to an ID of milliseconds alone.
func fullID(id string) string {
	if strings.Contains(id, "-") {
		return id
	}
	return id + "-0"
}

// position returns the ID to read queue's stream after.
func (c Cursor) position(queue string) string {
	if id, ok := c.ids[queue]; ok {
		return id
	}
	if c.floor != "" {
		return c.floor
	}
	return "0-0"
}

// advance records id as read in queue's stream.
func (c *Cursor) advance(queue, id string) {
	if c.ids == nil {
		c.ids = map[string]string{}
	}
	c.ids[queue] = id
}

// String returns the cursor's text form, queues in sorted order.
func (c Cursor) String() string {
	if len(c.ids) == 0 {
		return c.floor
	}
	v := make(url.Values, len(c.ids))
	for q, id := range c.ids {
		v.Set(q, id)
	}
	return v.Encode()
}

// lessID reports whether stream ID a is before b (both "ms-seq").
func lessID(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if am != bm {
		return am < bm
	}
	return as < bs
}

// splitID returns the two numbers of a stream ID; a malformed part is 0.
func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
