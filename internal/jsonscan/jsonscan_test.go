package jsonscan

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMembersAndElements(t *testing.T) {
	t.Parallel()
	data := []byte(` { "a" : 1, "b\u00e9":"x\"y" ,"c":{"d":[1,{"e":"]"}]},"a":null, "f":[ ] } `)
	ms, err := Members(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+string(m.Value))
	}
	want := []string{`a=1`, `bé="x\"y"`, `c={"d":[1,{"e":"]"}]}`, `a=null`, `f=[ ]`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %q\nwant %q", got, want)
	}
	els, err := Elements([]byte(`[1, "two", {"3":[3]}, [], true]`))
	if err != nil || len(els) != 5 || string(els[2]) != `{"3":[3]}` || string(els[4]) != "true" {
		t.Fatalf("Elements = %q, %v", els, err)
	}
	if _, err := Members([]byte(`[1]`)); !errors.Is(err, ErrNotObject) {
		t.Fatalf("Members of an array: %v; want ErrNotObject", err)
	}
	if _, err := Elements([]byte(`{}`)); !errors.Is(err, ErrNotArray) {
		t.Fatalf("Elements of an object: %v; want ErrNotArray", err)
	}
	for raw, want := range map[string]string{`"s"`: "a string", `{}`: "an object", `[]`: "an array", `true`: "a boolean", `null`: "null", `-1.5`: "a number", ` `: "nothing", ``: "nothing"} {
		if got := Kind([]byte(raw)); got != want {
			t.Errorf("Kind(%s) = %s; want %s", raw, got, want)
		}
	}
}

// TestMalformed feeds input the old scanner panicked on (it required valid
// JSON): every function returns an error instead.
func TestMalformed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{`, `{"a`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":"x`, `{"a":{`, `{"a":[1,`, `{"a" 1}`,
		`{1:2}`, `{"a":1 "b":2}`, `{"a":}`, `{"a":1}x`, `{"\`, `{"a":"\`, `{,}`, `{"a":1,}`,
	} {
		if ms, err := Members([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Members(%q) = %q, %v; want ErrMalformed", in, ms, err)
		}
	}
	for _, in := range []string{`[`, `[1`, `[1,`, `["a`, `[1 2]`, `[,]`, `[{]`, `[]]`} {
		if els, err := Elements([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Elements(%q) = %q, %v; want ErrMalformed", in, els, err)
		}
	}
	for _, in := range []string{``, `"`, `x`, `"a`, `"\"`, `"\u12"`} {
		if s, err := Unquote([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unquote(%q) = %q, %v; want ErrMalformed", in, s, err)
		}
	}
}

// TestUnquoteUTF8 checks that invalid UTF-8 is refused, not replaced with
// U+FFFD.
func TestUnquoteUTF8(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"plain"`: "plain", `"caf\u00e9"`: "café", `"café"`: "café", `"\ud83d\ude00"`: "😀", `"\ufffd"`: "\uFFFD", `"a\\ud800"`: `a\ud800`,
	} {
		if got, err := Unquote([]byte(in)); err != nil || got != want {
			t.Errorf("Unquote(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"\"a\xffb\"", "\"\xc3\"", `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"x\ud83d"`} {
		if got, err := Unquote([]byte(in)); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("Unquote(%q) = %q, %v; want ErrInvalidUTF8", in, got, err)
		}
	}
	if _, err := Members([]byte("{\"t\xff\":1}")); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("Members accepted a field name that is not UTF-8: %v", err)
	}
}

// FuzzScan feeds arbitrary bytes to every function: none may panic, and on
// valid JSON each must agree with encoding/json. The seed corpus is in
// testdata/fuzz/FuzzScan.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\"}","b":[{"c":null}]}`, ` {"x" : true , "y":-0.5e3} `, `[1,"a",{}]`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, merr := Members(data)
		els, eerr := Elements(data)
		s, uerr := Unquote(data)
		_ = Kind(data)
		if !json.Valid(data) {
			return
		}
		checkMembers(t, data, ms, merr)
		checkElements(t, data, els, eerr)
		checkUnquote(t, data, s, uerr)
	})
}

// checkMembers compares Members with encoding/json on valid JSON.
func checkMembers(t *testing.T, data []byte, ms []Member, err error) {
	t.Helper()
	var want map[string]json.RawMessage
	if json.Unmarshal(data, &want) != nil || want == nil {
		if err == nil {
			t.Fatalf("Members accepted %q, which is not an object", data)
		}
		return
	}
	if err != nil {
		if errors.Is(err, ErrInvalidUTF8) && (!utf8.Valid(data) || strings.Contains(string(data), `\u`)) {
			return // a name encoding/json would have mangled
		}
		t.Fatalf("Members rejected the object %q: %v", data, err)
	}
	last := map[string]string{}
	for _, m := range ms {
		if !json.Valid(m.Value) {
			t.Fatalf("member %q value %q is not valid JSON", m.Name, m.Value)
		}
		last[m.Name] = string(m.Value)
	}
	if len(last) != len(want) {
		t.Fatalf("%d distinct members; encoding/json found %d in %q", len(last), len(want), data)
	}
	for k, v := range want {
		var a, b any
		_ = json.Unmarshal(v, &a)
		_ = json.Unmarshal([]byte(last[k]), &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("member %q = %s; encoding/json says %s", k, last[k], v)
		}
	}
}

// checkElements compares Elements with encoding/json on valid JSON.
func checkElements(t *testing.T, data []byte, els [][]byte, err error) {
	t.Helper()
	var want []json.RawMessage
	if json.Unmarshal(data, &want) != nil || want == nil {
		if err == nil {
			t.Fatalf("Elements accepted %q, which is not an array", data)
		}
		return
	}
	if err != nil || len(els) != len(want) {
		t.Fatalf("Elements(%q) = %d elements, %v; encoding/json found %d", data, len(els), err, len(want))
	}
	for i, el := range els {
		if !json.Valid(el) {
			t.Fatalf("element %d %q is not valid JSON", i, el)
		}
	}
}

// checkUnquote compares Unquote with encoding/json on valid JSON.
func checkUnquote(t *testing.T, data []byte, s string, err error) {
	t.Helper()
	var want string
	trimmed := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &want) != nil || trimmed != string(data) || data[0] != '"' {
		if err == nil && trimmed == string(data) {
			t.Fatalf("Unquote accepted %q, which is not a string", data)
		}
		return
	}
	switch {
	case err == nil && s != want:
		t.Fatalf("Unquote(%q) = %q; encoding/json says %q", data, s, want)
	case err != nil && !errors.Is(err, ErrInvalidUTF8):
		t.Fatalf("Unquote(%q): %v", data, err)
	case errors.Is(err, ErrInvalidUTF8) && !strings.ContainsRune(want, utf8.RuneError):
		t.Fatalf("Unquote(%q) refused a string encoding/json decodes without U+FFFD: %v", data, err)
	}
}
