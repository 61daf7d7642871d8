package workercmd

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

// readBundle reads DIR/plugin.yaml and its entry, signs them when
// --sign-key is given, and checks them for publishing.
func (c *pluginsCmd) readBundle(dir string) (fleetstate.Bundle, int) {
	manifest, err := readLimited(filepath.Join(dir, plugins.ManifestFile), plugins.MaxManifestSize)
	if err != nil {
		return fleetstate.Bundle{}, c.usagef("publish: %v", err)
	}
	m, err := plugins.ParseManifest(filepath.Join(dir, plugins.ManifestFile), manifest)
	if err != nil {
		return fleetstate.Bundle{}, c.usagef("publish: %v", err)
	}
	module, err := readLimited(filepath.Join(dir, filepath.FromSlash(m.Entry)), fleetstate.MaxBundleSize)
	if err != nil {
		return fleetstate.Bundle{}, c.usagef("publish: %v (build it first: make plugins)", err)
	}
	var key ed25519.PrivateKey
	if c.sign != "" {
		if key, err = readSignKey(c.sign); err != nil {
			return fleetstate.Bundle{}, c.usagef("publish: --sign-key: %v", err)
		}
	}
	b, err := fleetstate.PrepareUpload(fleetstate.Upload{Manifest: manifest, Module: module, SignKey: key})
	if err != nil {
		return fleetstate.Bundle{}, c.usagef("publish: %s: %v", dir, err)
	}
	return b, cli.ExitOK
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// readSignKey reads an Ed25519 private key: base64 of the 32-byte seed or
// of the 64-byte key.
func readSignKey(path string) (ed25519.PrivateKey, error) {
	text, err := readLimited(path, 4096)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s is not base64: %w", path, err)
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("%s holds %d bytes; want an Ed25519 seed (32) or private key (64) in base64", path, len(b))
}

func (c *pluginsCmd) publish(ctx context.Context, b fleetstate.Bundle) int {
	if err := c.store.Publish(ctx, b); err != nil {
		c.errorf("%v", err)
		return cli.ExitFailure
	}
	signed := "unsigned"
	if len(b.Signature) > 0 {
		signed = "signed"
	}
	fmt.Fprintf(c.stdout, "published %s %s (%d bytes, sha256 %s, %s); workers install it within seconds: worker plugins list shows each worker's version\n",
		b.Name, b.Version, len(b.Manifest)+len(b.Module), b.SHA256, signed)
	return cli.ExitOK
}

func (c *pluginsCmd) rollback(ctx context.Context, name string) int {
	v, err := c.store.Rollback(ctx, name)
	if err != nil {
		c.errorf("%v", err)
		return cli.ExitUsage
	}
	fmt.Fprintf(c.stdout, "plugin %s rolled back to %s\n", name, v)
	return cli.ExitOK
}
