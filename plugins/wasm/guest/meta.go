package guest

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// meta is the meta JSON tuskq_handle receives (docs/plugins.md, "The wasm
// ABI").
type meta struct {
	TaskID      string
	Queue       string
	Retry       int
	MaxRetry    int
	DeadlineMS  int64
	Headers     map[string]string
	Traceparent string
	Config      map[string]any
}

// errMeta is wrapped by every error of decodeMeta.
var errMeta = errors.New("tuskq guest: malformed meta JSON")

// maxDepth bounds the nesting of config values, as encoding/json does.
const maxDepth = 10000

// decodeMeta decodes the meta JSON into m. It is a small JSON reader
// without reflection: inside a WebAssembly module encoding/json's
// reflection costs more than the rest of a task. Keys match exactly (the
// host writes them in lower case); unknown keys are skipped; config values
// decode as encoding/json decodes into any (string, float64, bool, nil,
// []any, map[string]any).
func decodeMeta(b []byte, m *meta) error {
	r := reader{b: b}
	r.space()
	if r.peek() == 'n' { // null: no meta
		if err := r.literal("null"); err != nil {
			return err
		}
	} else if err := r.object(func(key string) error { return r.metaField(key, m) }); err != nil {
		return err
	}
	r.space()
	if r.i != len(r.b) {
		return r.errorf("data after the top-level value")
	}
	return nil
}

func (r *reader) metaField(key string, m *meta) error {
	var err error
	switch key {
	case "task_id":
		m.TaskID, err = r.stringOrNull()
	case "queue":
		m.Queue, err = r.stringOrNull()
	case "traceparent":
		m.Traceparent, err = r.stringOrNull()
	case "retry":
		var n int64
		n, err = r.integer()
		m.Retry = int(n)
	case "max_retry":
		var n int64
		n, err = r.integer()
		m.MaxRetry = int(n)
	case "deadline_unix_ms":
		m.DeadlineMS, err = r.integer()
	case "headers":
		if r.peek() == 'n' {
			return r.literal("null")
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		err = r.object(func(k string) error {
			v, err := r.stringOrNull()
			m.Headers[k] = v
			return err
		})
	case "config":
		var v any
		v, err = r.value(0)
		if err == nil && v != nil {
			obj, ok := v.(map[string]any)
			if !ok {
				return r.errorf("config is not an object")
			}
			m.Config = obj
		}
	default:
		_, err = r.value(0)
	}
	return err
}

// reader reads JSON from b at i.
type reader struct {
	b []byte
	i int
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", errMeta, r.i, fmt.Sprintf(format, args...))
}

func (r *reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space (0 at the end).
func (r *reader) peek() byte {
	r.space()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *reader) literal(word string) error {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return r.errorf("want %s", word)
	}
	r.i += len(word)
	return nil
}

// object reads an object, calling field for each key with the reader at
// its value; field must read the value.
func (r *reader) object(field func(key string) error) error {
	if r.peek() != '{' {
		return r.errorf("want an object")
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.errorf("want a key")
		}
		key, err := r.str()
		if err != nil {
			return err
		}
		if r.peek() != ':' {
			return r.errorf("want ':'")
		}
		r.i++
		r.space()
		if err := field(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.errorf("want ',' or '}'")
		}
	}
}

func (r *reader) stringOrNull() (string, error) {
	switch r.peek() {
	case 'n':
		return "", r.literal("null")
	case '"':
		return r.str()
	}
	return "", r.errorf("want a string")
}

// str reads a string; invalid UTF-8 and lone surrogates become U+FFFD, as
// with encoding/json.
func (r *reader) str() (string, error) {
	r.i++ // the opening quote
	start := r.i
	// Fast path: ASCII without escapes, 8 bytes a step while none of them
	// ends the fast path (in a WebAssembly module each loop iteration
	// also pays the runtime's check for the time limit).
	for r.i+8 <= len(r.b) && plain8(*(*uint64)(unsafe.Pointer(&r.b[r.i]))) {
		r.i += 8
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			s := string(r.b[start:r.i])
			r.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		r.i++
	}
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), nil
		case c < 0x20:
			return "", r.errorf("control character in a string")
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", r.errorf("unterminated string")
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				c1, ok := r.hex4()
				if !ok {
					return "", r.errorf("bad \\u escape")
				}
				if utf16.IsSurrogate(c1) {
					save := r.i
					if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
						r.i += 2
						if c2, ok := r.hex4(); ok {
							if dec := utf16.DecodeRune(c1, c2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								continue
							}
						}
					}
					r.i = save
					c1 = utf8.RuneError
				}
				out = utf8.AppendRune(out, c1)
			default:
				return "", r.errorf("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			r.i++
		default:
			rn, size := utf8.DecodeRune(r.b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, r.b[r.i:r.i+size]...)
			}
			r.i += size
		}
	}
	return "", r.errorf("unterminated string")
}

// plain8 reports whether none of the 8 bytes in x is a quote, a
// backslash, a control character or a non-ASCII byte (the order of the
// bytes does not matter).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs } // high bit set in each zero byte (and maybe above one)
	special := zero(x^(ones*'"')) | zero(x^(ones*'\\')) | (x-ones*0x20)&^x&highs | x&highs
	return special == 0
}

func (r *reader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// number reads the text of a JSON number.
func (r *reader) number() (string, error) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case digits() == 0:
		return "", r.errorf("want a number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return "", r.errorf("want digits after '.'")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return "", r.errorf("want digits in the exponent")
		}
	}
	return string(r.b[start:r.i]), nil
}

// integer reads an integer (null is 0).
func (r *reader) integer() (int64, error) {
	if r.peek() == 'n' {
		return 0, r.literal("null")
	}
	s, err := r.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, r.errorf("%s is not an integer", s)
	}
	return n, nil
}

// value reads any JSON value as encoding/json decodes it into any.
func (r *reader) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, r.errorf("nested too deeply")
	}
	switch c := r.peek(); {
	case c == '{':
		obj := map[string]any{}
		err := r.object(func(key string) error {
			v, err := r.value(depth + 1)
			obj[key] = v
			return err
		})
		return obj, err
	case c == '[':
		r.i++
		arr := []any{}
		if r.peek() == ']' {
			r.i++
			return arr, nil
		}
		for {
			v, err := r.value(depth + 1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			switch r.peek() {
			case ',':
				r.i++
			case ']':
				r.i++
				return arr, nil
			default:
				return nil, r.errorf("want ',' or ']'")
			}
		}
	case c == '"':
		return r.str()
	case c == 't':
		return true, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return nil, r.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		s, err := r.number()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, r.errorf("number %s is out of range", s)
		}
		return f, nil
	}
	return nil, r.errorf("want a value")
}
