package logging

import (
	"log/slog"
	"testing"
)

// With payload logging on, an http:request payload's credentials are
// masked: Authorization, Cookie and Proxy-Authorization headers (any case)
// and secret-looking query parameters; everything else is logged as sent.
func TestPayloadAttrMasksSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, payload, want string }{
		{"headers",
			`{"url":"https://hooks.example.com/x","headers":{"Authorization":"Bearer abc","cookie":"sid=1","PROXY-AUTHORIZATION":"Basic eA==","X-Tenant":"7"}}`,
			`{"headers":{"Authorization":"[REDACTED]","PROXY-AUTHORIZATION":"[REDACTED]","X-Tenant":"7","cookie":"[REDACTED]"},"url":"https://hooks.example.com/x"}`},
		{"query",
			`{"url":"https://hooks.example.com/x?order=42&token=s3cret&api_key=k&X-Amz-Signature=ab&sig=1&Password=p&page=2"}`,
			`{"url":"https://hooks.example.com/x?order=42&token=REDACTED&api_key=REDACTED&X-Amz-Signature=REDACTED&sig=REDACTED&Password=REDACTED&page=2"}`},
		{"user info",
			`{"url":"https://bob:hunter2@hooks.example.com/x"}`,
			`{"url":"https://bob:REDACTED@hooks.example.com/x"}`},
		{"nested in a list",
			`[{"url":"http://h/?secret=x"},{"headers":{"authorization":"t"}}]`,
			`[{"url":"http://h/?secret=REDACTED"},{"headers":{"authorization":"[REDACTED]"}}]`},
		{"nothing to mask", `{"url":"https://h/x?order=1","note":"a < b"}`, `{"url":"https://h/x?order=1","note":"a < b"}`},
		{"not a URL", `{"text":"what?token=1"}`, `{"text":"what?token=1"}`},
		{"not JSON", `Authorization: Bearer x`, `Authorization: Bearer x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PayloadAttr([]byte(tt.payload), true)
			if want := slog.String(KeyPayload, tt.want); !got.Equal(want) {
				t.Errorf("PayloadAttr =\n  %s\nwant\n  %s", got.Value, want.Value)
			}
		})
	}
}
