package logging

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Redacted replaces a secret in a logged payload.
const Redacted = "[REDACTED]"

// secretHeaders are the header names whose values a logged payload never
// shows (compared lower-case): credentials sent with a request.
var secretHeaders = map[string]bool{
	"authorization":       true,
	"proxy-authorization": true,
	"cookie":              true,
	"set-cookie":          true,
	"x-api-key":           true,
	"x-auth-token":        true,
}

// secretParams are query parameter names (lower-case) whose values a
// logged URL never shows; names containing one of secretParamParts are
// masked too.
var secretParams = map[string]bool{
	"key": true, "apikey": true, "api_key": true, "sig": true, "signature": true,
	"password": true, "passwd": true, "pwd": true, "secret": true, "token": true,
	"auth": true, "code": true, "credential": true, "credentials": true,
}

var secretParamParts = []string{"token", "secret", "password", "signature", "credential", "_key", "-key", "apikey"}

// secretParam reports whether a query parameter's value is to be masked.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	if secretParams[n] {
		return true
	}
	for _, part := range secretParamParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// redactPayload returns payload with secrets masked when it is JSON: the
// value of every object member named like a credential header
// (Authorization, Proxy-Authorization, Cookie, …, in any case) and the
// values of secret-looking query parameters (token, key, secret, password,
// sig, signature, …) of every string that is an http or https URL. A
// payload that is not JSON, or holds nothing to mask, is returned as it is;
// a masked one is re-encoded (object members in sorted order).
func redactPayload(payload []byte) []byte {
	if !mayHoldSecret(payload) {
		return payload
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return payload
	}
	v, changed := redactValue(v)
	if !changed {
		return payload
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return payload
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// mayHoldSecret is a cheap test that skips decoding payloads with neither a
// query string nor a credential header name.
func mayHoldSecret(payload []byte) bool {
	if bytes.IndexByte(payload, '?') >= 0 || bytes.Contains(payload, []byte("://")) {
		return true
	}
	lower := bytes.ToLower(payload)
	for _, s := range []string{"auth", "cookie", "api-key", "token"} {
		if bytes.Contains(lower, []byte(s)) {
			return true
		}
	}
	return false
}

// redactValue masks the secrets in a decoded JSON value.
func redactValue(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		changed := false
		for k, e := range x {
			if secretHeaders[strings.ToLower(k)] {
				if e != Redacted {
					x[k] = Redacted
					changed = true
				}
				continue
			}
			if ne, c := redactValue(e); c {
				x[k], changed = ne, true
			}
		}
		return x, changed
	case []any:
		changed := false
		for i, e := range x {
			if ne, c := redactValue(e); c {
				x[i], changed = ne, true
			}
		}
		return x, changed
	case string:
		if s, c := redactURL(x); c {
			return s, true
		}
	}
	return v, false
}

// redactURL masks the secret query parameters of an http or https URL,
// keeping the others and their order.
func redactURL(s string) (string, bool) {
	if !strings.Contains(s, "://") {
		return s, false
	}
	u, err := url.Parse(s)
	if err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return s, false
	}
	var parts []string
	if u.RawQuery != "" {
		parts = strings.Split(u.RawQuery, "&")
	}
	changed := false
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		dn, err := url.QueryUnescape(name)
		if err != nil {
			dn = name
		}
		if hasValue && secretParam(dn) {
			parts[i] = name + "=REDACTED"
			changed = true
		}
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			changed = true
		}
	}
	if !changed {
		return s, false
	}
	u.RawQuery = strings.Join(parts, "&")
	return u.String(), true
}
