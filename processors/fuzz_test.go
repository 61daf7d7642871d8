package processors

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// FuzzDecodeHTTPRequest checks that the http:request decoder never panics,
// that every rejection is a bad-payload error that skips retry, and that an
// accepted payload is valid and survives a round trip through HTTPRequest.
// Seeds live in testdata/fuzz/FuzzDecodeHTTPRequest.
func FuzzDecodeHTTPRequest(f *testing.F) {
	f.Add([]byte(`{"url":"https://api.example.com/hook"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		call, err := decodeHTTPRequest(payload)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) || !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("error %q does not wrap ErrBadPayload and asynq.SkipRetry", err)
			}
			if !strings.HasPrefix(err.Error(), "http:request: bad payload: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			return
		}
		switch {
		case !allowedMethod(call.method):
			t.Fatalf("accepted method %q", call.method)
		case call.url.Scheme != "http" && call.url.Scheme != "https":
			t.Fatalf("accepted scheme %q", call.url.Scheme)
		case call.url.Hostname() == "" || call.url.User != nil:
			t.Fatalf("accepted URL %q", call.url)
		case call.timeout <= 0:
			t.Fatalf("accepted timeout %s", call.timeout)
		}
		headers := make(map[string]string, len(call.header))
		for name, values := range call.header {
			if len(values) != 1 || reservedHeader(name) || !validToken(name) || strings.ContainsFunc(values[0], invalidHeaderValueRune) {
				t.Fatalf("accepted header %q: %q", name, values)
			}
			headers[name] = values[0]
		}

		again := HTTPRequest{Method: call.method, URL: call.url.String(), Headers: headers, Timeout: call.timeout.String()}
		if call.body != nil {
			again.BodyBase64 = base64.StdEncoding.EncodeToString(call.body)
		}
		data, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		call2, err := decodeHTTPRequest(data)
		if err != nil {
			t.Fatalf("re-encoded payload %s rejected: %v", data, err)
		}
		if call2.method != call.method || call2.url.String() != call.url.String() || string(call2.body) != string(call.body) ||
			call2.timeout != call.timeout || len(call2.header) != len(call.header) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", call, call2)
		}
	})
}
