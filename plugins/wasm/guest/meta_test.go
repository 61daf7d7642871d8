package guest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// wireMeta is the host's encoding of the meta (plugins/wasm taskMeta).
type wireMeta struct {
	TaskID      string            `json:"task_id"`
	Queue       string            `json:"queue"`
	Retry       int               `json:"retry"`
	MaxRetry    int               `json:"max_retry"`
	DeadlineMS  int64             `json:"deadline_unix_ms,omitempty"`
	Headers     map[string]string `json:"headers"`
	Traceparent string            `json:"traceparent,omitempty"`
	Config      map[string]any    `json:"config"`
}

func TestDecodeMeta(t *testing.T) {
	in := wireMeta{
		TaskID: "t-1", Queue: "critical", Retry: 2, MaxRetry: 25, DeadlineMS: 1700000000123,
		Headers:     map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "x-é": "\"quoted\"\n\u2028"},
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Config:      map[string]any{"greeting": "Hello", "n": 3.5, "on": true, "none": nil, "list": []any{1.0, "two", map[string]any{"x": false}}},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var m meta
	if err := decodeMeta(b, &m); err != nil {
		t.Fatalf("decodeMeta(%s): %v", b, err)
	}
	got := wireMeta(m)
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("decodeMeta(%s)\n got %#v\nwant %#v", b, got, in)
	}

	// The host's encoding of an empty meta, nulls, unknown keys and spaces.
	for _, text := range []string{
		`{"task_id":"","queue":"","retry":0,"max_retry":0,"headers":null,"config":null}`,
		` { "future" : [1, {"a": "b"}], "retry" : null } `,
		`null`,
		`{}`,
	} {
		var m meta
		if err := decodeMeta([]byte(text), &m); err != nil {
			t.Errorf("decodeMeta(%s): %v", text, err)
		}
	}
	for _, text := range []string{``, `{`, `{"retry":1.5}`, `{"config":[1]}`, `{"task_id":1}`, `{} x`, `{"a":tru}`, `{"a":"\x01"}`, `{"a":01}`} {
		var m meta
		if err := decodeMeta([]byte(text), &m); !errors.Is(err, errMeta) {
			t.Errorf("decodeMeta(%q) = %v, want an error wrapping errMeta", text, err)
		}
	}
}

// FuzzValue checks the JSON reader against encoding/json: whenever
// encoding/json accepts a document, the reader accepts it with the same
// value; the reader never panics.
func FuzzValue(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5e3,-0,"x\u00e9\ud83d\ude00\ud800"],"b":{"c":null,"d":true,"e":false}}`,
		`"\"\\\/\b\f\n\r\t"`, `[]`, `{}`, `1e999`, `"\xff\xfe"`, `[1,]`, `{"a" 1}`, `-`, `0.`, `1e+`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := reader{b: data}
		got, err := r.value(0)
		if err == nil {
			r.space()
			if r.i != len(r.b) {
				err = r.errorf("data after the top-level value")
			}
		}
		var want any
		wantErr := json.Unmarshal(data, &want)
		if wantErr != nil {
			return // the reader may be more lenient only where JSON is invalid; it must not panic
		}
		if err != nil {
			t.Fatalf("reader refused %q, which encoding/json accepts: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("reader(%q) = %#v, encoding/json = %#v", data, got, want)
		}
	})
}

// FuzzDecodeMeta checks that decodeMeta never panics and round-trips the
// host's encoding.
func FuzzDecodeMeta(f *testing.F) {
	f.Add("t", "q", 1, 3, int64(5), "k", "v", "cfg", "val")
	f.Fuzz(func(t *testing.T, id, queue string, retry, maxRetry int, deadline int64, hk, hv, ck, cv string) {
		in := wireMeta{TaskID: id, Queue: queue, Retry: retry, MaxRetry: maxRetry, DeadlineMS: deadline,
			Headers: map[string]string{hk: hv}, Config: map[string]any{ck: cv}}
		b, err := json.Marshal(in)
		if err != nil {
			t.Skip()
		}
		var back wireMeta
		if err := json.Unmarshal(b, &back); err != nil {
			t.Skip()
		}
		var m meta
		if err := decodeMeta(b, &m); err != nil {
			t.Fatalf("decodeMeta(%s): %v", b, err)
		}
		got := wireMeta(m)
		if !reflect.DeepEqual(got, back) {
			t.Fatalf("decodeMeta(%s)\n got %#v\nwant %#v", b, got, back)
		}
		var junk meta
		_ = decodeMeta(b[:len(b)/2], &junk)
	})
}

func TestPlain8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(b[i])
			}
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plain8(x); got != want {
				t.Fatalf("plain8 with byte %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}
