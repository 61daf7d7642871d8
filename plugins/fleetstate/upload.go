package fleetstate

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
)

// Upload is a bundle to publish as its sender hands it over: worker
// plugins publish reads it from a directory, the HTTP API from a request.
// PrepareUpload checks both the same way.
type Upload struct {
	// Manifest is plugin.yaml; Module is the file its entry names.
	Manifest, Module []byte
	// SignKey, when not nil, signs the bundle (worker plugins publish
	// --sign-key).
	SignKey ed25519.PrivateKey
	// Signature is a signature made elsewhere, of the digest's 32 bytes
	// (the HTTP API: the key never leaves the publisher). Ignored when
	// SignKey is set.
	Signature []byte
	// SHA256, when not empty, is the digest the sender computed (hex); a
	// bundle whose contents hash to something else is refused.
	SHA256 string
	// Trusted, when not empty, are the fleet's trusted keys
	// (plugins.trusted_keys): an unsigned bundle, or one signed by another
	// key, is refused now rather than by every worker.
	Trusted []ed25519.PublicKey
}

// PrepareUpload checks u for publishing and returns its bundle: the
// checks of NewBundle (a wasm manifest, at most MaxBundleSize bytes), the
// digest the sender states, and the signature the workers will require.
// Errors wrap ErrBundle, ErrDigest or ErrSignature.
func PrepareUpload(u Upload) (Bundle, error) {
	b, err := NewBundle(u.Manifest, u.Module, u.SignKey)
	if err != nil {
		return Bundle{}, err
	}
	if u.SignKey == nil && len(u.Signature) > 0 {
		if len(u.Signature) != ed25519.SignatureSize {
			return Bundle{}, fmt.Errorf("%w: the signature has %d bytes; an Ed25519 signature has %d", ErrSignature, len(u.Signature), ed25519.SignatureSize)
		}
		b.Signature = u.Signature
	}
	if u.SHA256 != "" && !strings.EqualFold(u.SHA256, b.SHA256) {
		return Bundle{}, fmt.Errorf("%w: %s %s: its contents hash to %s, the sender stated %s; send the bundle again", ErrDigest, b.Name, b.Version, b.SHA256, u.SHA256)
	}
	if err := b.Verify(u.Trusted); err != nil {
		return Bundle{}, err
	}
	return b, nil
}

// TrustedKeys decodes plugins.trusted_keys: Ed25519 public keys in base64.
func TrustedKeys(keys []string) ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, 0, len(keys))
	for i, k := range keys {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("plugins.trusted_keys[%d]: want an Ed25519 public key in base64 (32 bytes), as printed by worker plugins keygen", i)
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}
