package jsonscan

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestMembersAndElements(t *testing.T) {
	t.Parallel()
	data := []byte(` { "a" : 1, "b\u00e9":"x\"y" ,"c":{"d":[1,{"e":"]"}]},"a":null, "f":[ ] } `)
	ms, ok := Members(data)
	if !ok {
		t.Fatal("not an object")
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+string(m.Value))
	}
	want := []string{`a=1`, `bé="x\"y"`, `c={"d":[1,{"e":"]"}]}`, `a=null`, `f=[ ]`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %q\nwant %q", got, want)
	}
	els, ok := Elements([]byte(`[1, "two", {"3":[3]}, [], true]`))
	if !ok || len(els) != 5 || string(els[2]) != `{"3":[3]}` || string(els[4]) != "true" {
		t.Fatalf("Elements = %q, %v", els, ok)
	}
	if _, ok := Members([]byte(`[1]`)); ok {
		t.Fatal("Members accepted an array")
	}
	if _, ok := Elements([]byte(`{}`)); ok {
		t.Fatal("Elements accepted an object")
	}
	for raw, want := range map[string]string{`"s"`: "a string", `{}`: "an object", `[]`: "an array", `true`: "a boolean", `null`: "null", `-1.5`: "a number"} {
		if got := Kind([]byte(raw)); got != want {
			t.Errorf("Kind(%s) = %s; want %s", raw, got, want)
		}
	}
}

// FuzzMembers checks the scanner against encoding/json on valid objects.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\"}","b":[{"c":null}]}`, ` {"x" : true , "y":-0.5e3} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(data, &want) != nil {
			if _, ok := Members(data); ok {
				t.Fatalf("Members accepted %q, which is not an object", data)
			}
			return
		}
		ms, ok := Members(data)
		if !ok {
			t.Fatalf("Members rejected the object %q", data)
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
	})
}
