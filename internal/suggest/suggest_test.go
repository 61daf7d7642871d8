package suggest

import "testing"

func TestClosest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		word       string
		candidates []string
		want       string
		dist       int
	}{
		{"redis.adr", []string{"redis.addr", "redis.addrs", "redis.db"}, "redis.addr", 1},
		{"queu", []string{"type", "queue", "delay"}, "queue", 1},
		{"ab", []string{"xy", "zw"}, "xy", 2}, // tie: first wins
		{"x", nil, "", -1},
		{"", []string{"abc"}, "abc", 3},
	} {
		got, d := Closest(tt.word, tt.candidates)
		if got != tt.want || d != tt.dist {
			t.Errorf("Closest(%q) = %q, %d; want %q, %d", tt.word, got, d, tt.want, tt.dist)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance(kitten, sitting) = %d; want 3", d)
	}
}
