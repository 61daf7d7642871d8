package processors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPRequest is the payload of an http:request task, for Go producers:
// marshal it with encoding/json. The package documentation describes each
// field.
type HTTPRequest struct {
	// Method is the HTTP method; empty means POST.
	Method string `json:"method,omitempty"`
	// URL is the absolute http or https URL to call.
	URL string `json:"url"`
	// Headers are sent with the request.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is any JSON value: a string is sent as its text, anything else
	// as compact JSON. At most one of Body and BodyBase64 may be set.
	Body json.RawMessage `json:"body,omitempty"`
	// BodyBase64 is a body of raw bytes in standard base64.
	BodyBase64 string `json:"body_base64,omitempty"`
	// Timeout bounds the request, as a Go duration ("10s"); empty means
	// DefaultHTTPTimeout. The task's own deadline still applies.
	Timeout string `json:"timeout,omitempty"`
}

// Limits of http:request.
const (
	// DefaultHTTPTimeout bounds a request whose payload sets no timeout.
	DefaultHTTPTimeout = 30 * time.Second
	// MaxResultBody is how much of a response body is kept in the result.
	MaxResultBody = 64 << 10
	// maxURLLength bounds the url field.
	maxURLLength = 8 << 10
)

const httpFields = `"method", "url", "headers", "body", "body_base64" and "timeout"`

// methodList names the methods http:request sends, for messages.
const methodList = "GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"

// allowedMethod reports whether http:request sends method m.
func allowedMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

// reservedHeader reports whether a canonical header name is set by the
// HTTP stack or by tuskq and so may not come from a payload.
func reservedHeader(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Te", "Trailer", "Upgrade", "Traceparent", "Tracestate":
		return true
	}
	return false
}

// httpCall is a validated http:request payload.
type httpCall struct {
	method  string
	url     *url.URL
	header  http.Header
	body    []byte // nil: no body
	timeout time.Duration
}

// decodeHTTPRequest decodes and validates an http:request payload. Every
// error names the field at fault and wraps ErrBadPayload and
// asynq.SkipRetry. It does not consult the allow-list.
func decodeHTTPRequest(payload []byte) (*httpCall, error) {
	var p HTTPRequest
	if err := decodeStrict(TypeHTTPRequest, payload, &p, httpFields); err != nil {
		return nil, err
	}
	call := &httpCall{method: "POST", timeout: DefaultHTTPTimeout}
	var err error
	if call.url, err = validateURL(p.URL); err != nil {
		return nil, err
	}
	if p.Method != "" {
		call.method = strings.ToUpper(p.Method)
		if !allowedMethod(call.method) {
			return nil, badPayload(TypeHTTPRequest, `field "method": %q is not supported; use %s`, p.Method, methodList)
		}
	}
	if call.header, err = validateHeaders(p.Headers); err != nil {
		return nil, err
	}
	contentType := ""
	switch {
	case len(p.Body) > 0 && !bytes.Equal(p.Body, []byte("null")) && p.BodyBase64 != "":
		return nil, badPayload(TypeHTTPRequest, `both "body" and "body_base64" are set; set one of them`)
	case p.BodyBase64 != "":
		if call.body, err = base64.StdEncoding.DecodeString(p.BodyBase64); err != nil {
			return nil, badPayload(TypeHTTPRequest, `field "body_base64": not valid standard base64 (%v)`, err)
		}
		contentType = "application/octet-stream"
	case len(p.Body) == 0 || bytes.Equal(p.Body, []byte("null")):
	case p.Body[0] == '"':
		var s string
		if err := json.Unmarshal(p.Body, &s); err != nil {
			return nil, badPayload(TypeHTTPRequest, `field "body": %v`, err)
		}
		call.body = []byte(s)
		contentType = "text/plain; charset=utf-8"
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.Body); err != nil {
			return nil, badPayload(TypeHTTPRequest, `field "body": %v`, err)
		}
		call.body = buf.Bytes()
		contentType = "application/json"
	}
	if contentType != "" && call.header.Get("Content-Type") == "" {
		call.header.Set("Content-Type", contentType)
	}
	if p.Timeout != "" {
		call.timeout, err = time.ParseDuration(p.Timeout)
		switch {
		case err != nil:
			return nil, badPayload(TypeHTTPRequest, `field "timeout": %q is not a duration; use a Go duration such as "10s"`, p.Timeout)
		case call.timeout <= 0:
			return nil, badPayload(TypeHTTPRequest, `field "timeout": %q is not positive; use a Go duration such as "10s"`, p.Timeout)
		}
	}
	return call, nil
}

// validateURL checks the url field. Its messages quote only the part at
// fault, never the whole URL, whose query may hold a secret.
func validateURL(raw string) (*url.URL, error) {
	const example = `; give an absolute URL such as "https://api.example.com/hook"`
	if raw == "" {
		return nil, badPayload(TypeHTTPRequest, `field "url" is missing%s`, example)
	}
	if len(raw) > maxURLLength {
		return nil, badPayload(TypeHTTPRequest, `field "url" is %d bytes long; the limit is %d`, len(raw), maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, badPayload(TypeHTTPRequest, `field "url": not a valid URL (%v)%s`, err, example)
	}
	switch {
	case u.Scheme == "" || u.Opaque != "":
		return nil, badPayload(TypeHTTPRequest, `field "url": not an absolute URL%s`, example)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, badPayload(TypeHTTPRequest, `field "url": scheme %q is not supported; use http or https`, u.Scheme)
	case u.User != nil:
		return nil, badPayload(TypeHTTPRequest, `field "url": user info in the URL is not allowed; send credentials in an "Authorization" header`)
	case u.Hostname() == "":
		return nil, badPayload(TypeHTTPRequest, `field "url": the URL has no host%s`, example)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, badPayload(TypeHTTPRequest, `field "url": port %q is out of range; want 1 to 65535`, port)
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// validateHeaders checks the headers field and returns it as an
// http.Header. Names are checked in sorted order, so the first error is
// the same on every run.
func validateHeaders(in map[string]string) (http.Header, error) {
	h := make(http.Header, len(in)+4)
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	slices.Sort(names)
	seen := make(map[string]string, len(in))
	for _, name := range names {
		value := in[name]
		if !validToken(name) {
			return nil, badPayload(TypeHTTPRequest, `field "headers": %q is not a valid header name (letters, digits and !#$%%&'*+-.^_|~ only)`, name)
		}
		canon := http.CanonicalHeaderKey(name)
		if reservedHeader(canon) {
			return nil, badPayload(TypeHTTPRequest, `field "headers": %q is set by the worker and cannot be sent from a payload; remove it`, name)
		}
		if prev, ok := seen[canon]; ok {
			return nil, badPayload(TypeHTTPRequest, `field "headers": %q and %q name the same header; keep one`, prev, name)
		}
		seen[canon] = name
		if i := strings.IndexFunc(value, invalidHeaderValueRune); i >= 0 {
			return nil, badPayload(TypeHTTPRequest, `field "headers": the value of %q has a control character at byte %d; remove it`, name, i)
		}
		h[canon] = []string{value}
	}
	return h, nil
}

// validToken reports whether s is an RFC 9110 token, the syntax of a header
// name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// invalidHeaderValueRune reports control characters other than tab, which
// may not appear in a header value.
func invalidHeaderValueRune(r rune) bool {
	return r < ' ' && r != '\t' || r == 0x7f
}
