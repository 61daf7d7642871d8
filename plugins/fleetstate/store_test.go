package fleetstate

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
)

func TestStoreValidation(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store := NewStore(newClient(t, srv.Addr()))
	ctx := t.Context()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"", ErrInvalidName, "fleetstate: invalid plugin name: the name is empty"},
		{"a b", ErrInvalidName, `fleetstate: invalid plugin name: "a b" contains ' '; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"Hello", ErrInvalidName, `fleetstate: invalid plugin name: "Hello" contains 'H'; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"x/y", ErrInvalidName, `fleetstate: invalid plugin name: "x/y" contains '/'; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`},
	}
	for _, c := range cases {
		_, err := store.SetEnabled(ctx, c.name, false)
		if !errors.Is(err, c.err) || err.Error() != c.want {
			t.Errorf("SetEnabled(%q) = %v; want %s", c.name, err, c.want)
		}
	}
	err := store.SetConfig(ctx, "hello", map[string]json.RawMessage{"greeting": json.RawMessage(`hi`)}, nil)
	if want := "fleetstate: invalid configuration value: greeting: invalid character 'h' looking for beginning of value"; !errors.Is(err, ErrInvalidValue) || err.Error() != want {
		t.Errorf("SetConfig(non-JSON) = %v; want %s", err, want)
	}
	err = store.SetConfig(ctx, "hello", map[string]json.RawMessage{"a=b": json.RawMessage(`1`)}, nil)
	if want := `fleetstate: invalid configuration key: "a=b" contains '='; use letters, digits and punctuation other than '='`; !errors.Is(err, ErrInvalidKey) || err.Error() != want {
		t.Errorf("SetConfig(a=b) = %v; want %s", err, want)
	}
	err = store.SetConfig(ctx, "hello", map[string]json.RawMessage{"a": json.RawMessage(`1`)}, []string{"a"})
	if want := "fleetstate: invalid configuration key: a is both set and unset"; err == nil || err.Error() != want {
		t.Errorf("SetConfig(set and unset a) = %v; want %s", err, want)
	}
	if rev, err := store.Rev(ctx); err != nil || rev != 0 {
		t.Fatalf("Rev after rejected changes = %d, %v; want 0, nil", rev, err)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newClient(t, srv.Addr())
	store := NewStore(rdb)
	ctx := t.Context()
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	store.now = func() time.Time { return fixed }

	if ps, ok, err := store.Plugin(ctx, "hello"); err != nil || ok || !reflect.DeepEqual(ps, PluginState{Name: "hello", Enabled: true}) {
		t.Fatalf("Plugin(hello) before any change = %+v, %v, %v; want enabled, false, nil", ps, ok, err)
	}
	if _, err := store.SetEnabled(ctx, "hello", false); err != nil {
		t.Fatal(err)
	}
	if was, err := store.SetEnabled(ctx, "hello", false); err != nil || was {
		t.Fatalf("second SetEnabled(false) = %v, %v; want false (already disabled), nil", was, err)
	}
	err := store.SetConfig(ctx, "hello", map[string]json.RawMessage{
		"greeting": json.RawMessage(` "hi" `),
		"n":        json.RawMessage(`{ "a" : [1, 2] }`),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetConfig(ctx, "hello", nil, []string{"n", "missing"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetConfig(ctx, "zeta", map[string]json.RawMessage{"n": json.RawMessage(`1.5`)}, nil); err != nil {
		t.Fatal(err)
	}
	// A value written by hand that is not JSON is reported, not applied.
	if err := rdb.HSet(ctx, PluginKey("zeta"), "config.bad", "{oops").Err(); err != nil {
		t.Fatal(err)
	}

	got, err := store.Plugins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []PluginState{
		{Name: "hello", Enabled: false, Config: map[string]json.RawMessage{"greeting": json.RawMessage(`"hi"`)}, UpdatedAt: fixed},
		{Name: "zeta", Enabled: true, Config: map[string]json.RawMessage{"n": json.RawMessage(`1.5`)}, UpdatedAt: fixed,
			Invalid: map[string]string{"bad": `"{oops" is not JSON`}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Plugins() =\n%+v\nwant\n%+v", got, want)
	}
	if rev, err := store.Rev(ctx); err != nil || rev != 5 {
		t.Fatalf("Rev() = %d, %v; want 5 (one per change), nil", rev, err)
	}
	if c := DecodeConfig(got[1].Config); !reflect.DeepEqual(c, map[string]any{"n": 1.5}) {
		t.Fatalf("DecodeConfig = %v", c)
	}
}

func TestNewWorkerID(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	re := regexp.MustCompile("^" + regexp.QuoteMeta(host+":"+strconv.Itoa(os.Getpid())+":") + "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
	a, b := NewWorkerID(), NewWorkerID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("NewWorkerID() = %q, %q; want distinct host:pid:uuid", a, b)
	}
}

func TestReportsAppearAndGoAway(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newClient(t, srv.Addr())
	store := NewStore(rdb)
	ctx := t.Context()

	s, err := Open(ctx, newClient(t, srv.Addr()), Options{WorkerID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	workers, err := store.Workers(ctx)
	if err != nil || len(workers) != 1 || workers[0].Worker != "w1" || len(workers[0].Plugins) != 0 || workers[0].PID != os.Getpid() {
		t.Fatalf("Workers() after Open = %+v, %v; want w1 with no plugins", workers, err)
	}
	loadedAt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	reports := []PluginReport{
		{Name: "zeta", Version: "1.0.0", Runtime: "process", Status: StatusFailed, Error: "boom", TaskTypes: []string{"z:run"}},
		{Name: "hello", Version: "1.1.0", Runtime: "native", Status: StatusLoaded, TaskTypes: []string{"hello:greet"}, LoadedAt: loadedAt},
	}
	if err := s.ReportPlugins(ctx, reports); err != nil {
		t.Fatal(err)
	}
	workers, err = store.Workers(ctx)
	if err != nil || len(workers) != 1 {
		t.Fatalf("Workers() = %+v, %v", workers, err)
	}
	wantPlugins := []PluginReport{reports[1], reports[0]} // sorted by name
	if !reflect.DeepEqual(workers[0].Plugins, wantPlugins) {
		t.Fatalf("reported plugins =\n%+v\nwant\n%+v", workers[0].Plugins, wantPlugins)
	}
	raw, err := rdb.Get(ctx, WorkerKey("w1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	p0 := doc["plugins"].([]any)[1].(map[string]any)
	if _, ok := p0["loaded_at"]; ok || p0["error"] != "boom" || p0["status"] != "failed" {
		t.Fatalf("JSON of the failed plugin = %v; want error, status and no loaded_at", p0)
	}
	if ttl := rdb.PTTL(ctx, WorkerKey("w1")).Val(); ttl <= 0 || ttl > DefaultReportTTL {
		t.Fatalf("PTTL of the report = %v; want (0, %v]", ttl, DefaultReportTTL)
	}

	// Close deletes the report at once.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if workers, err := store.Workers(ctx); err != nil || len(workers) != 0 {
		t.Fatalf("Workers() after Close = %+v, %v; want none", workers, err)
	}
	if n := rdb.ZCard(ctx, KeyWorkers).Val(); n != 0 {
		t.Fatalf("%s has %d members after Close; want 0", KeyWorkers, n)
	}
}

// TestReportHeartbeatAndExpiry checks that a live worker's report outlives
// its TTL through the heartbeat, and that a worker that stops without
// closing (killed) disappears after its TTL and is pruned from the set.
func TestReportHeartbeatAndExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := newClient(t, srv.Addr())
	store := NewStore(rdb)
	ctx := t.Context()
	const ttl = 300 * time.Millisecond

	live := open(t, newClient(t, srv.Addr()), Options{WorkerID: "live", ReportTTL: ttl})
	first, err := store.Workers(ctx)
	if err != nil || len(first) != 1 {
		t.Fatalf("Workers() = %+v, %v", first, err)
	}
	// A killed worker: its report is written once and never refreshed.
	dead := WorkerReport{Worker: "dead", Plugins: []PluginReport{}}
	if err := store.writeReport(ctx, dead, ttl); err != nil {
		t.Fatal(err)
	}
	testutil.Poll(t, 5*time.Second, "the dead worker's report expires while the live one is refreshed past its first TTL", func() bool {
		ws, err := store.Workers(ctx)
		if err != nil || len(ws) != 1 || ws[0].Worker != "live" {
			return false
		}
		return ws[0].UpdatedAt.After(first[0].UpdatedAt.Add(ttl))
	})
	// The next heartbeat prunes the dead member once it is a TTL past expiry.
	testutil.Poll(t, 5*time.Second, "the dead worker is pruned from the set", func() bool {
		return rdb.ZScore(ctx, KeyWorkers, "dead").Err() != nil
	})
	_ = live
}
