package processors

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// assertBadPayload checks that err has exactly the text want and wraps
// ErrBadPayload and asynq.SkipRetry.
func assertBadPayload(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %q", want)
	}
	if err.Error() != want {
		t.Errorf("err =\n  %s\nwant\n  %s", err, want)
	}
	if !errors.Is(err, ErrBadPayload) || !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("err %q does not wrap both ErrBadPayload and asynq.SkipRetry", err)
	}
}

func TestDecodeHTTPRequestErrors(t *testing.T) {
	t.Parallel()
	const p = "http:request: bad payload: "
	long := `{"url":"https://a.example/` + strings.Repeat("a", maxURLLength) + `"}`
	tests := []struct {
		name, payload, want string
	}{
		{"empty", ``, p + `the payload is empty; send a JSON object with the fields "method", "url", "headers", "body", "body_base64" and "timeout"`},
		{"not JSON", `{"url":`, p + `not valid JSON: the payload ends in the middle of a value`},
		{"syntax", `{"url" "x"}`, p + `not valid JSON at byte offset 8: invalid character '"' after object key`},
		{"array", `[1]`, p + `the payload is a JSON array; send a JSON object with the fields "method", "url", "headers", "body", "body_base64" and "timeout"`},
		{"unknown field", `{"url":"https://a.example","methd":"GET"}`, p + `unknown field "methd"; the fields are "method", "url", "headers", "body", "body_base64" and "timeout"`},
		{"trailing", `{"url":"https://a.example"} {}`, p + `unexpected data after the JSON object at byte offset 29; send exactly one object`},
		{"url type", `{"url":42}`, p + `field "url": got a JSON number, want a string`},
		{"header type", `{"url":"https://a.example","headers":{"X-N":1}}`, p + `field "headers": got a JSON number, want a string`},
		{"headers type", `{"url":"https://a.example","headers":["a"]}`, p + `field "headers": got a JSON array, want an object`},
		{"url missing", `{}`, p + `field "url" is missing; give an absolute URL such as "https://api.example.com/hook"`},
		{"url too long", long, p + `field "url" is 8210 bytes long; the limit is 8192`},
		{"url relative", `{"url":"/hook"}`, p + `field "url": not an absolute URL; give an absolute URL such as "https://api.example.com/hook"`},
		{"url opaque", `{"url":"mailto:a@b.example"}`, p + `field "url": not an absolute URL; give an absolute URL such as "https://api.example.com/hook"`},
		{"url scheme", `{"url":"ftp://a.example/x"}`, p + `field "url": scheme "ftp" is not supported; use http or https`},
		{"url invalid", `{"url":"https://a b.example/"}`, p + `field "url": not a valid URL (invalid character " " in host name); give an absolute URL such as "https://api.example.com/hook"`},
		{"url userinfo", `{"url":"https://u:secret@a.example/"}`, p + `field "url": user info in the URL is not allowed; send credentials in an "Authorization" header`},
		{"url no host", `{"url":"https://:443/x"}`, p + `field "url": the URL has no host; give an absolute URL such as "https://api.example.com/hook"`},
		{"url port", `{"url":"https://a.example:70000/"}`, p + `field "url": port "70000" is out of range; want 1 to 65535`},
		{"method", `{"url":"https://a.example","method":"TRACE"}`, p + `field "method": "TRACE" is not supported; use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS`},
		{"header name", `{"url":"https://a.example","headers":{"X Bad":"1"}}`, p + `field "headers": "X Bad" is not a valid header name (letters, digits and !#$%&'*+-.^_|~ only)`},
		{"header reserved", `{"url":"https://a.example","headers":{"host":"evil.example"}}`, p + `field "headers": "host" is set by the worker and cannot be sent from a payload; remove it`},
		{"header traceparent", `{"url":"https://a.example","headers":{"Traceparent":"x"}}`, p + `field "headers": "Traceparent" is set by the worker and cannot be sent from a payload; remove it`},
		{"header twice", `{"url":"https://a.example","headers":{"X-A":"1","x-a":"2"}}`, p + `field "headers": "X-A" and "x-a" name the same header; keep one`},
		{"header value", `{"url":"https://a.example","headers":{"X-A":"1\r\nEvil: 1"}}`, p + `field "headers": the value of "X-A" has a control character at byte 1; remove it`},
		{"two bodies", `{"url":"https://a.example","body":"x","body_base64":"eA=="}`, p + `both "body" and "body_base64" are set; set one of them`},
		{"base64", `{"url":"https://a.example","body_base64":"!!"}`, p + `field "body_base64": not valid standard base64 (illegal base64 data at input byte 0)`},
		{"timeout", `{"url":"https://a.example","timeout":"10"}`, p + `field "timeout": "10" is not a duration; use a Go duration such as "10s"`},
		{"timeout zero", `{"url":"https://a.example","timeout":"0s"}`, p + `field "timeout": "0s" is not positive; use a Go duration such as "10s"`},
		{"timeout number", `{"url":"https://a.example","timeout":10}`, p + `field "timeout": got a JSON number, want a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeHTTPRequest([]byte(tt.payload))
			assertBadPayload(t, err, tt.want)
		})
	}
}

func TestDecodeHTTPRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload                  string
		method, url, body, contentType string
		timeout                        time.Duration
		header                         http.Header
	}{
		{
			name:    "defaults",
			payload: `{"url":"https://A.example/hook?q=1#frag"}`,
			method:  "POST", url: "https://A.example/hook?q=1", timeout: DefaultHTTPTimeout,
			header: http.Header{},
		},
		{
			name:    "json body",
			payload: `{"url":"http://a.example","method":"put","body":{ "a" : [1, 2] },"timeout":"250ms"}`,
			method:  "PUT", url: "http://a.example", body: `{"a":[1,2]}`, contentType: "application/json", timeout: 250 * time.Millisecond,
			header: http.Header{"Content-Type": {"application/json"}},
		},
		{
			name:    "string body",
			payload: `{"url":"http://a.example","body":"héllo\n"}`,
			method:  "POST", url: "http://a.example", body: "héllo\n", contentType: "text/plain; charset=utf-8", timeout: DefaultHTTPTimeout,
			header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		},
		{
			name:    "base64 body with own content type",
			payload: `{"url":"http://a.example","body_base64":"AAEC","headers":{"content-type":"application/x-thing","X-Tenant":"7"}}`,
			method:  "POST", url: "http://a.example", body: "\x00\x01\x02", timeout: DefaultHTTPTimeout,
			header: http.Header{"Content-Type": {"application/x-thing"}, "X-Tenant": {"7"}},
		},
		{
			name:    "null body",
			payload: `{"url":"http://a.example","method":"GET","body":null}`,
			method:  "GET", url: "http://a.example", timeout: DefaultHTTPTimeout,
			header: http.Header{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			call, err := decodeHTTPRequest([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if call.method != tt.method || call.url.String() != tt.url || string(call.body) != tt.body || call.timeout != tt.timeout {
				t.Errorf("got method %q url %q body %q timeout %s, want %q %q %q %s",
					call.method, call.url, call.body, call.timeout, tt.method, tt.url, tt.body, tt.timeout)
			}
			if len(call.header) != len(tt.header) {
				t.Errorf("header = %v, want %v", call.header, tt.header)
			}
			for k, v := range tt.header {
				if got := call.header.Get(k); got != v[0] {
					t.Errorf("header %s = %q, want %q", k, got, v[0])
				}
			}
			if tt.body == "" && call.body != nil {
				t.Errorf("body = %q, want none", call.body)
			}
		})
	}
}

func TestDecodeSleep(t *testing.T) {
	t.Parallel()
	const p = "demo:sleep: bad payload: "
	for payload, want := range map[string]time.Duration{
		`{"ms":250}`:          250 * time.Millisecond,
		`{"ms":0}`:            0,
		`{"duration":"1.5s"}`: 1500 * time.Millisecond,
	} {
		got, err := decodeSleep([]byte(payload))
		if err != nil || got != want {
			t.Errorf("decodeSleep(%s) = %s, %v; want %s", payload, got, err, want)
		}
	}
	for payload, want := range map[string]string{
		``:                         p + `the payload is empty; send a JSON object with the fields "ms" (milliseconds) or "duration" (such as "250ms")`,
		`{}`:                       p + `set "ms" (milliseconds) or "duration" (such as "250ms")`,
		`{"ms":2.5}`:               p + `field "ms": got a JSON number, want an integer`,
		`{"ms":-1}`:                p + `field "ms": -1 is out of range; want 0 to 9223372036854 milliseconds`,
		`{"ms":"250"}`:             p + `field "ms": got a JSON string, want an integer`,
		`{"duration":"soon"}`:      p + `field "duration": "soon" is not a duration; use a Go duration such as "250ms" or "2s"`,
		`{"duration":"-1s"}`:       p + `field "duration": "-1s" is negative; want 0 or more`,
		`{"ms":1,"duration":"1s"}`: p + `both "ms" and "duration" are set; set one of them`,
		`{"seconds":1}`:            p + `unknown field "seconds"; the fields are "ms" (milliseconds) or "duration" (such as "250ms")`,
	} {
		_, err := decodeSleep([]byte(payload))
		assertBadPayload(t, err, want)
	}
}
