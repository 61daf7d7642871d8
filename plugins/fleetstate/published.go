package fleetstate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// PublishedPlugin is the current version of a published plugin and the
// version each reporting worker runs: what worker plugins list and the
// monitor's fleet report show.
type PublishedPlugin struct {
	// Name of the plugin.
	Name string `json:"name"`
	// Version is the published (current) version; SHA256 its digest.
	Version string `json:"version"`
	// SHA256 is the hex digest of the current version's bundle.
	SHA256 string `json:"sha256"`
	// Signed tells whether the current version is signed.
	Signed bool `json:"signed"`
	// PublishedAt is when the current version was published.
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Previous is the version a rollback would make current ("" when
	// none).
	Previous string `json:"previous,omitempty"`
	// Workers maps each reporting worker to the version of the plugin it
	// has loaded ("" when it has none loaded).
	Workers map[string]string `json:"workers"`
	// Refused maps a worker to why it refused a bundle of the plugin.
	Refused map[string]string `json:"refused,omitempty"`
}

// Running counts the workers that run the published version.
func (p PublishedPlugin) Running() int {
	n := 0
	for _, v := range p.Workers {
		if v == p.Version {
			n++
		}
	}
	return n
}

// PublishedPlugins returns every published plugin, sorted by name, with
// the version each of workers (as Workers returns them) has loaded. It
// never reads the modules.
func (s *Store) PublishedPlugins(ctx context.Context, workers []WorkerReport) ([]PublishedPlugin, error) {
	current, err := s.Published(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PublishedPlugin, 0, len(current))
	for _, name := range slices.Sorted(maps.Keys(current)) {
		v := current[name]
		vals, err := s.rdb.HMGet(ctx, BundleKey(name), "previous", "sha256:"+v, "sig:"+v, "published_at:"+v).Result()
		if err != nil {
			return nil, fmt.Errorf("fleetstate: read bundle %s: %w", name, err)
		}
		str := func(i int) string { s, _ := vals[i].(string); return s }
		p := PublishedPlugin{Name: name, Version: v, Previous: str(0), SHA256: str(1), Signed: str(2) != "", Workers: map[string]string{}}
		p.PublishedAt, _ = time.Parse(time.RFC3339Nano, str(3))
		for _, w := range workers {
			p.Workers[w.Worker] = loadedVersion(w, name)
		}
		if p.Refused, err = s.refusals(ctx, name); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// loadedVersion is the version of plugin name that w has loaded ("" when
// none).
func loadedVersion(w WorkerReport, name string) string {
	for _, p := range w.Plugins {
		if p.Name == name && p.Status == StatusLoaded {
			return p.Version
		}
	}
	return ""
}

// refusals reads the refused:WORKER fields of plugin name's bundle hash
// with HSCAN, so that the modules stored beside them are not read (nil
// when there are none).
func (s *Store) refusals(ctx context.Context, name string) (map[string]string, error) {
	var out map[string]string
	var cursor uint64
	for range 10000 { // bounded: a hash holds two versions and one field per worker
		kv, next, err := s.rdb.HScan(ctx, BundleKey(name), cursor, "refused:*", 100).Result()
		if err != nil {
			return nil, fmt.Errorf("fleetstate: read the refusals of %s: %w", name, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if w, ok := strings.CutPrefix(kv[i], "refused:"); ok {
				if out == nil {
					out = map[string]string{}
				}
				out[w] = kv[i+1]
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return out, nil
}
