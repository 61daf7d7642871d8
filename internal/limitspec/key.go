package limitspec

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// Key values that are not the task's own.
const (
	// NoKey is the key value of a task that lacks the field or header.
	NoKey = "(none)"
	// OtherKey is the bucket shared by the tasks whose key value is not
	// tracked because the limit already tracks MaxKeys values.
	OtherKey = "(other)"
)

// maxKeyLen is the longest key value used as is; longer ones are replaced
// by their SHA-1 (hex), so that a key in Redis stays short.
const maxKeyLen = 100

// KeyValue returns the value of l.Key for a task with payload and
// headers, "" when l has no key: the value itself, NoKey when the task
// lacks it, or "sha1:" and its SHA-1 when longer than 100 bytes.
func (l Limit) KeyValue(payload []byte, headers map[string]string) string {
	if l.Key == "" {
		return ""
	}
	key, host := hostKey(l.Key)
	var v string
	if name, ok := strings.CutPrefix(key, "header."); ok {
		v = headers[name]
	} else {
		v = payloadField(payload, strings.Split(strings.TrimPrefix(key, "payload."), "."))
	}
	if host && v != "" {
		v = urlHost(v)
	}
	switch {
	case v == "":
		return NoKey
	case len(v) > maxKeyLen:
		sum := sha1.Sum([]byte(v))
		return "sha1:" + hex.EncodeToString(sum[:])
	}
	return v
}

// hostKey reports whether k is host(INNER), and returns INNER (k itself
// when it is not).
func hostKey(k string) (string, bool) {
	if inner, ok := strings.CutPrefix(k, "host("); ok {
		if inner, ok = strings.CutSuffix(inner, ")"); ok {
			return inner, true
		}
	}
	return k, false
}

// urlHost is the host of the absolute URL s, lower case, with its port
// when the URL gives one ("api.example.com", "127.0.0.1:8080"); "" when s
// is not an absolute URL.
func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Host)
}

// payloadField returns the field at path of the JSON object payload: a
// string as is, another value as its JSON text, "" when absent or when
// payload is not a JSON object.
func payloadField(payload []byte, path []string) string {
	var cur any
	if json.Unmarshal(payload, &cur) != nil {
		return ""
	}
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		if cur, ok = obj[p]; !ok {
			return ""
		}
	}
	switch v := cur.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, _ := json.Marshal(cur)
	return string(b)
}
