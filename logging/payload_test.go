package logging

import (
	"log/slog"
	"strings"
	"testing"
)

func TestPayloadAttr(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("a", 1030)
	// 1023 ASCII bytes then a 3-byte character spanning bytes 1023..1025.
	split := strings.Repeat("b", 1023) + "€" + "tail"

	tests := []struct {
		name    string
		payload []byte
		enabled bool
		want    slog.Attr
	}{
		{name: "DisabledEmpty", payload: nil, enabled: false, want: slog.Int("payload_bytes", 0)},
		{name: "Disabled", payload: []byte(`{"to":"a@b.c"}`), enabled: false, want: slog.Int("payload_bytes", 14)},
		{name: "DisabledLong", payload: []byte(long), enabled: false, want: slog.Int("payload_bytes", 1030)},
		{name: "Enabled", payload: []byte(`{"to":"a@b.c"}`), enabled: true, want: slog.String("payload", `{"to":"a@b.c"}`)},
		{name: "EnabledEmpty", payload: nil, enabled: true, want: slog.String("payload", "")},
		{name: "EnabledAtLimit", payload: []byte(long[:1024]), enabled: true, want: slog.String("payload", long[:1024])},
		{name: "EnabledLong", payload: []byte(long), enabled: true, want: slog.String("payload", long[:1024]+"…(1030 bytes)")},
		{name: "EnabledRuneBoundary", payload: []byte(split), enabled: true, want: slog.String("payload", split[:1023]+"…(1030 bytes)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PayloadAttr(tt.payload, tt.enabled)
			if !got.Equal(tt.want) {
				t.Errorf("PayloadAttr = %s, want %s", got, tt.want)
			}
		})
	}
}
