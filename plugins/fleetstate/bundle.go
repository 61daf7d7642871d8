package fleetstate

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/plugins"
)

// Published bundles: a wasm plugin stored in Redis once and loaded by
// every worker of the fleet (see Syncer).
//
//	tuskq:{plugins}:bundles           HASH plugin name → the version workers run
//	tuskq:{plugins}:bundle:NAME       HASH of one plugin's bundles:
//	                                    current, previous   versions
//	                                    manifest:V, module:V, sha256:V,
//	                                    sig:V, published_at:V of the two
//	                                    versions kept (current and previous)
//	                                    refused:WORKER      why that worker
//	                                                        refused a bundle
const (
	// KeyBundles maps each published plugin to its current version.
	KeyBundles      = "tuskq:{plugins}:bundles"
	bundleKeyPrefix = "tuskq:{plugins}:bundle:"
)

// MaxBundleSize bounds a bundle: its manifest and module together.
const MaxBundleSize = 32 << 20

var (
	// ErrBundle is wrapped by the errors about a bundle that cannot be
	// published or loaded.
	ErrBundle = errors.New("invalid plugin bundle")
	// ErrDigest is wrapped by a worker's refusal of a bundle whose SHA-256
	// digest does not match its contents.
	ErrDigest = errors.New("bundle digest mismatch")
	// ErrSignature is wrapped by a worker's refusal of a bundle that is
	// unsigned or not signed by one of the fleet's trusted keys.
	ErrSignature = errors.New("bundle signature not trusted")
	// ErrNoPrevious is wrapped by Rollback when there is no version to
	// go back to.
	ErrNoPrevious = errors.New("no previous version to roll back to")
)

// BundleKey returns the key of the hash of plugin name's bundles.
func BundleKey(name string) string { return bundleKeyPrefix + name }

// Bundle is a published wasm plugin: its manifest and module.
type Bundle struct {
	// Name and Version are the manifest's.
	Name, Version string
	// Manifest is plugin.yaml; Module is the file its entry names.
	Manifest, Module []byte
	// SHA256 is the hex digest of the bundle (see Digest).
	SHA256 string
	// Signature is the Ed25519 signature of the digest's 32 bytes (nil
	// when unsigned).
	Signature []byte
	// PublishedAt is when it was published.
	PublishedAt time.Time
}

// Digest returns the SHA-256 of a bundle: of "tuskq-bundle-v1\n", the
// manifest's length as 8 big-endian bytes, the manifest and the module.
func Digest(manifest, module []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("tuskq-bundle-v1\n"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(manifest)))
	h.Write(n[:])
	h.Write(manifest)
	h.Write(module)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// NewBundle checks a plugin's manifest and module for publishing (the
// runtime must be wasm, the size within MaxBundleSize) and returns the
// bundle with its digest, signed with key when key is not nil.
func NewBundle(manifest, module []byte, key ed25519.PrivateKey) (Bundle, error) {
	if n := len(manifest) + len(module); n > MaxBundleSize {
		return Bundle{}, fmt.Errorf("%w: %d bytes; the limit is %d", ErrBundle, n, MaxBundleSize)
	}
	m, err := plugins.ParseManifest(plugins.ManifestFile, manifest)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	if m.Runtime != plugins.RuntimeWasm {
		return Bundle{}, fmt.Errorf("%w: runtime is %s; only wasm plugins can be published (process, exec and native plugins run with the host's trust: install them on each host)", ErrBundle, m.Runtime)
	}
	d := Digest(manifest, module)
	b := Bundle{Name: m.Name, Version: m.Version, Manifest: manifest, Module: module, SHA256: hex.EncodeToString(d[:])}
	if key != nil {
		b.Signature = ed25519.Sign(key, d[:])
	}
	return b, nil
}

// Verify checks that b's contents match its digest and, when trusted is
// not empty, that one of the keys signed it.
func (b Bundle) Verify(trusted []ed25519.PublicKey) error {
	d := Digest(b.Manifest, b.Module)
	if got := hex.EncodeToString(d[:]); got != b.SHA256 {
		return fmt.Errorf("%w: %s %s: its contents hash to %s, the published digest is %s; publish it again", ErrDigest, b.Name, b.Version, got, b.SHA256)
	}
	if len(trusted) == 0 {
		return nil
	}
	if len(b.Signature) == 0 {
		return fmt.Errorf("%w: %s %s is unsigned and this fleet trusts only signed bundles (plugins.trusted_keys); publish it signed (worker plugins publish --sign-key, or the signature field of PUT /v1/plugins/{name}/bundle)", ErrSignature, b.Name, b.Version)
	}
	for _, k := range trusted {
		if ed25519.Verify(k, d[:], b.Signature) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %s is signed by none of the %d keys in plugins.trusted_keys", ErrSignature, b.Name, b.Version, len(trusted))
}

// Publish stores b as the current version of its plugin (the version
// current so far becomes the previous one; older ones are deleted) and
// announces it. Publish does not verify b: workers do.
func (s *Store) Publish(ctx context.Context, b Bundle) error {
	if err := ValidateName(b.Name); err != nil {
		return err
	}
	if len(b.Manifest)+len(b.Module) > MaxBundleSize {
		return fmt.Errorf("%w: %d bytes; the limit is %d", ErrBundle, len(b.Manifest)+len(b.Module), MaxBundleSize)
	}
	key := BundleKey(b.Name)
	h, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("fleetstate: publish %s: %w", b.Name, err)
	}
	cur := h["current"]
	return s.change(ctx, b.Name, func(p redis.Pipeliner) {
		v := b.Version
		if cur != v {
			for f := range h {
				if _, fv, ok := strings.Cut(f, ":"); ok && !strings.HasPrefix(f, "refused:") && fv != cur && fv != v {
					p.HDel(ctx, key, f)
				}
			}
			p.HSet(ctx, key, "previous", cur)
		}
		p.HSet(ctx, key, "current", v, "manifest:"+v, b.Manifest, "module:"+v, b.Module, "sha256:"+v, b.SHA256,
			"sig:"+v, b.Signature, "published_at:"+v, s.now().UTC().Format(time.RFC3339Nano))
		p.HSet(ctx, KeyBundles, b.Name, v)
	})
}

// Rollback makes the previous version of plugin name current again (and
// the current one previous) and returns it.
func (s *Store) Rollback(ctx context.Context, name string) (string, error) {
	key := BundleKey(name)
	h, err := s.rdb.HMGet(ctx, key, "current", "previous").Result()
	if err != nil {
		return "", fmt.Errorf("fleetstate: rollback %s: %w", name, err)
	}
	cur, _ := h[0].(string)
	prev, _ := h[1].(string)
	if prev == "" {
		return "", fmt.Errorf("fleetstate: rollback %s: %w (current version %q)", name, ErrNoPrevious, cur)
	}
	err = s.change(ctx, name, func(p redis.Pipeliner) {
		p.HSet(ctx, key, "current", prev, "previous", cur)
		p.HSet(ctx, KeyBundles, name, prev)
	})
	return prev, err
}

// Published returns the current version of each published plugin.
func (s *Store) Published(ctx context.Context) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, KeyBundles).Result()
	if err != nil {
		return nil, fmt.Errorf("fleetstate: read the published plugins: %w", err)
	}
	return m, nil
}

// Bundle returns version of plugin name's bundles.
func (s *Store) Bundle(ctx context.Context, name, version string) (Bundle, error) {
	v := version
	vals, err := s.rdb.HMGet(ctx, BundleKey(name), "manifest:"+v, "module:"+v, "sha256:"+v, "sig:"+v, "published_at:"+v).Result()
	if err != nil {
		return Bundle{}, fmt.Errorf("fleetstate: read bundle %s %s: %w", name, v, err)
	}
	str := func(i int) string { s, _ := vals[i].(string); return s }
	if vals[0] == nil || vals[1] == nil {
		return Bundle{}, fmt.Errorf("fleetstate: %w: bundle %s %s is not stored", ErrBundle, name, v)
	}
	b := Bundle{Name: name, Version: v, Manifest: []byte(str(0)), Module: []byte(str(1)), SHA256: str(2)}
	if sig := str(3); sig != "" {
		b.Signature = []byte(sig)
	}
	b.PublishedAt, _ = time.Parse(time.RFC3339Nano, str(4))
	return b, nil
}

// ReportRefusal records why worker refused version of plugin name ("" to
// clear it); "worker plugins list" prints it.
func (s *Store) ReportRefusal(ctx context.Context, name, worker, version string, reason error) error {
	f := "refused:" + worker
	if reason == nil {
		return s.rdb.HDel(ctx, BundleKey(name), f).Err()
	}
	return s.rdb.HSet(ctx, BundleKey(name), f, version+": "+reason.Error()).Err()
}

// Refusals returns, by worker, why each refused plugin name's bundles.
func (s *Store) Refusals(ctx context.Context, name string) (map[string]string, error) {
	m, err := s.refusals(ctx, name)
	if m == nil && err == nil {
		m = map[string]string{}
	}
	return m, err
}
