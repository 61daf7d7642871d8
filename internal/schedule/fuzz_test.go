package schedule_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/schedule"
)

// FuzzDecode feeds arbitrary schedule objects to Decode: it must never
// panic, every problem names a field, an accepted schedule's ticks move
// forward, and its encoding decodes to the same schedule.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"cron":"@every 1s","type":"a"}`,
		`{"cron":"0 30 2 * * *","time_zone":"Europe/Paris","type":"r:n","payload":{"a":[1,2]},"missed":"once","overlap":"skip","jitter":"5s"}`,
		`{"cron":"*/5 * * * *","type":"x","queue":"low","max_retry":3,"timeout":"1m","retention":"1h","unique":"30s","headers":{"k":"v"}}`,
		`{"cron":"@monthly","type":"x","payload_base64":"AAEC"}`,
		`{"cron":"CRON_TZ=UTC @hourly","type":"x"}`,
		`{"cron":"0 0 0 30 2 *","type":"x"}`,
		`{"cron":"@every 1.5s","type":"x","id":"a","delay":"1s"}`,
		`[]`, `{`, ``, `{"cron":1}`,
	} {
		f.Add("name", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s, ps := schedule.Decode(name, data, "p.")
		if len(ps) > 0 {
			if s != nil {
				t.Fatal("a schedule with problems")
			}
			for _, p := range ps {
				if p.Field == "" || p.Detail == "" || (p.Field != "name" && p.Field != "body" && !strings.HasPrefix(p.Field, "p")) {
					t.Fatalf("problem %+v", p)
				}
			}
			return
		}
		at := time.Unix(1_800_000_000, 0)
		if n := s.Next(at); !n.After(at) {
			t.Fatalf("Next(%v) = %v", at, n)
		}
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, ps := schedule.Decode(name, js, "")
		if len(ps) > 0 {
			t.Fatalf("the encoding %s does not decode: %v", js, ps)
		}
		js2, _ := json.Marshal(s2)
		if string(js) != string(js2) {
			t.Fatalf("unstable encoding:\n%s\n%s", js, js2)
		}
	})
}
