// Package jsonscan splits JSON into its parts without decoding it: several
// times faster than json.Decoder's Token API, which matters for batches of
// thousands of tasks (the enqueue CLI's JSON lines and the HTTP API's batch
// bodies). Values are slices of the input.
//
// The functions are meant for input that json.Valid accepted, and are only
// fast, not thorough, about anything else: they do not check that a value
// is well formed (call json.Valid for that). They never panic, on any
// input: what they cannot split they report as an error wrapping
// ErrMalformed (or ErrNotObject, ErrNotArray, ErrInvalidUTF8).
package jsonscan

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

var (
	// ErrMalformed is wrapped by the error about input that is not JSON
	// the scanner can split.
	ErrMalformed = errors.New("malformed JSON")
	// ErrNotObject is returned by Members for a value that is not an
	// object.
	ErrNotObject = errors.New("not a JSON object")
	// ErrNotArray is returned by Elements for a value that is not an
	// array.
	ErrNotArray = errors.New("not a JSON array")
	// ErrInvalidUTF8 is wrapped by Unquote's error about a string that is
	// not valid UTF-8, raw or through an escaped lone surrogate.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
)

// Member is one field of a JSON object.
type Member struct {
	// Name is the decoded field name.
	Name string
	// Value is the raw JSON value, a slice of the input.
	Value []byte
}

// malformed returns an error wrapping ErrMalformed about byte i.
func malformed(i int, what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, i)
}

// Members returns the members of the JSON object data in order, duplicates
// included. It fails with ErrNotObject when data is another value, and
// with an error wrapping ErrMalformed (or ErrInvalidUTF8 for a name) when
// the object cannot be split.
func Members(data []byte) ([]Member, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, ErrNotObject
	}
	members := make([]Member, 0, 8)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return members, trailing(data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, malformed(i, "expected a field name")
		}
		end, err := skipString(data, i)
		if err != nil {
			return nil, err
		}
		name, err := Unquote(data[i:end])
		if err != nil {
			return nil, fmt.Errorf("field name at byte %d: %w", i, err)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, malformed(i, "expected ':'")
		}
		i = skipSpace(data, i+1)
		start := i
		if i, err = skipValue(data, i); err != nil {
			return nil, err
		}
		members = append(members, Member{Name: name, Value: data[start:i]})
		i = skipSpace(data, i)
		switch {
		case i >= len(data):
			return nil, malformed(i, "the object is not closed")
		case data[i] == '}':
			return members, trailing(data, i+1)
		case data[i] != ',':
			return nil, malformed(i, "expected ',' or '}'")
		}
		i = skipSpace(data, i+1)
	}
}

// Elements returns the elements of the JSON array data. It fails with
// ErrNotArray when data is another value, and with an error wrapping
// ErrMalformed when the array cannot be split.
func Elements(data []byte) ([][]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, ErrNotArray
	}
	var elems [][]byte
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return elems, trailing(data, i+1)
	}
	for {
		start := i
		var err error
		if i, err = skipValue(data, i); err != nil {
			return nil, err
		}
		elems = append(elems, data[start:i])
		i = skipSpace(data, i)
		switch {
		case i >= len(data):
			return nil, malformed(i, "the array is not closed")
		case data[i] == ']':
			return elems, trailing(data, i+1)
		case data[i] != ',':
			return nil, malformed(i, "expected ',' or ']'")
		}
		i = skipSpace(data, i+1)
	}
}

// trailing reports anything but white space from i on.
func trailing(data []byte, i int) error {
	if i = skipSpace(data, i); i < len(data) {
		return malformed(i, "unexpected data after the value")
	}
	return nil
}

// Unquote decodes a JSON string, allocating only the result for plain
// ASCII. A string that is not valid UTF-8, or holds an escaped lone
// surrogate (which decoding would turn into U+FFFD), is an error wrapping
// ErrInvalidUTF8 rather than a string with replacement characters; a value
// that is not a JSON string is an error wrapping ErrMalformed.
func Unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", malformed(0, "expected a string")
	}
	body := raw[1 : len(raw)-1]
	plain := true
	for _, b := range body {
		if b == '\\' || b == '"' || b < 0x20 || b >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(body), nil
	}
	if !utf8.Valid(body) {
		return "", fmt.Errorf("%w: the string has bytes that are not UTF-8", ErrInvalidUTF8)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if loneSurrogate(body) {
		return "", fmt.Errorf("%w: the string escapes a lone UTF-16 surrogate", ErrInvalidUTF8)
	}
	return s, nil
}

// loneSurrogate reports whether the body of a valid JSON string escapes a
// UTF-16 surrogate that is not part of a pair.
func loneSurrogate(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++
		if i >= len(body) || body[i] != 'u' {
			continue
		}
		r, ok := hex4(body, i+1)
		if !ok {
			return false
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low half first
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
				return true
			}
			lo, ok := hex4(body, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 decodes the four hex digits at body[i:].
func hex4(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Kind names the JSON type of a raw value, for error messages: "a string",
// "an object", "an array", "a boolean", "null", "a number", or "nothing"
// for empty input.
func Kind(raw []byte) string {
	if i := skipSpace(raw, 0); i < len(raw) {
		raw = raw[i:]
	} else {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string at i.
func skipString(data []byte, i int) (int, error) {
	start := i
	for i++; i < len(data); i++ {
		switch data[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
		}
	}
	return 0, malformed(start, "the string is not closed")
}

// skipValue returns the index after the JSON value at i.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, malformed(i, "expected a value")
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		start := i
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, malformed(start, "the value is not closed")
	case ',', '}', ']', ':':
		return 0, malformed(i, "expected a value")
	default: // number, true, false, null
		start := i
		for i < len(data) && !isDelim(data[i]) {
			i++
		}
		if i == start {
			return 0, malformed(i, "expected a value")
		}
		return i, nil
	}
}

func isDelim(b byte) bool {
	switch b {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}
