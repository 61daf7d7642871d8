package limitspec

import (
	"strings"
	"testing"
)

// The key value of a task: the payload field or header named, NoKey when
// it is missing, empty or null, the JSON text of a value that is not a
// string, and the SHA-1 of a value longer than maxKeyLen.
func TestKeyValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", maxKeyLen)
	for _, c := range []struct {
		key, payload string
		headers      map[string]string
		want         string
	}{
		{"", `{"a":"x"}`, nil, ""},
		{"payload.a", `{"a":"x"}`, nil, "x"},
		{"payload.a.b", `{"a":{"b":"y"}}`, nil, "y"},
		{"payload.a.b", `{"a":"flat"}`, nil, NoKey},
		{"payload.a", `{"a":7}`, nil, "7"},
		{"payload.a", `{"a":{"z":1}}`, nil, `{"z":1}`},
		{"payload.a", `{"a":null}`, nil, NoKey},
		{"payload.a", `{"a":""}`, nil, NoKey},
		{"payload.a", `{"b":"x"}`, nil, NoKey},
		{"payload.a", `not json`, nil, NoKey},
		{"payload.a", `{"a":"` + long + `"}`, nil, long},
		{"payload.a", `{"a":"` + long + `k"}`, nil, "sha1:"},
		{"header.Tenant", `{}`, map[string]string{"Tenant": "t1"}, "t1"},
		{"header.Tenant", `{"Tenant":"p"}`, nil, NoKey},
	} {
		got := Limit{Key: c.key}.KeyValue([]byte(c.payload), c.headers)
		if got != c.want && !(c.want == "sha1:" && strings.HasPrefix(got, c.want) && len(got) == 5+40) {
			t.Errorf("key %q of %s %v = %q; want %q", c.key, c.payload, c.headers, got, c.want)
		}
	}
}

// The defaults of a limit's optional fields, and the limit's own when set.
func TestOptionalDefaults(t *testing.T) {
	t.Parallel()
	if b, m := (Limit{}).BurstOrDefault(), (Limit{}).MaxKeysOrDefault(); b != 1 || m != 10000 {
		t.Errorf("burst %d, max keys %d; want 1, 10000", b, m)
	}
	if b, m := (Limit{Burst: 3, MaxKeys: 4}).BurstOrDefault(), (Limit{Burst: 3, MaxKeys: 4}).MaxKeysOrDefault(); b != 3 || m != 4 {
		t.Errorf("burst %d, max keys %d; want 3, 4", b, m)
	}
}
