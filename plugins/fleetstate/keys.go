package fleetstate

import (
	"errors"
	"fmt"
	"unicode"
)

// The Redis keys and channel of the fleet state; see the package
// documentation for what each holds.
const (
	// KeyNames is the set of plugin names that have fleet state.
	KeyNames = "tuskq:{plugins}:names"
	// KeyRev is the revision counter incremented by every change.
	KeyRev = "tuskq:{plugins}:rev"
	// Channel is the pub/sub channel a change is announced on.
	Channel = "tuskq:{plugins}:changed"
	// KeyWorkers is the sorted set of worker IDs that have a report.
	KeyWorkers = "tuskq:{plugins}:workers"

	pluginKeyPrefix = "tuskq:{plugins}:plugin:"
	workerKeyPrefix = "tuskq:{plugins}:worker:"

	// Fields of a plugin's hash.
	fieldEnabled   = "enabled"
	fieldUpdatedAt = "updated_at"
	configPrefix   = "config."
)

// PluginKey returns the key of the hash holding plugin name's state.
func PluginKey(name string) string { return pluginKeyPrefix + name }

// WorkerKey returns the key of the report of worker id.
func WorkerKey(id string) string { return workerKeyPrefix + id }

// MaxNameLength is the longest plugin name accepted.
const MaxNameLength = 64

var (
	// ErrInvalidName is wrapped by the errors about an unusable plugin name.
	ErrInvalidName = errors.New("invalid plugin name")
	// ErrInvalidKey is wrapped by the errors about an unusable
	// configuration key.
	ErrInvalidKey = errors.New("invalid configuration key")
)

// ValidateName reports whether s can name a plugin, with the rule of the
// manifest's name field: 1 to MaxNameLength lower-case letters, digits,
// '.', '_' or '-', starting with a letter or a digit.
func ValidateName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: the name is empty", ErrInvalidName)
	}
	if len(s) > MaxNameLength {
		return fmt.Errorf("%w: %q is %d bytes long; the limit is %d", ErrInvalidName, s[:20]+"…", len(s), MaxNameLength)
	}
	for i, r := range s {
		if !validNameRune(r) || (i == 0 && !isLowerAlnum(r)) {
			return fmt.Errorf("%w: %q contains %q; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalidName, s, r)
		}
	}
	return nil
}

func isLowerAlnum(r rune) bool { return ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') }

func validNameRune(r rune) bool { return isLowerAlnum(r) || r == '-' || r == '_' || r == '.' }

// ValidateKey reports whether s can be a configuration key: non-empty,
// printable, without spaces or '='.
func ValidateKey(s string) error {
	if s == "" {
		return fmt.Errorf("%w: the key is empty", ErrInvalidKey)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '=' {
			return fmt.Errorf("%w: %q contains %q; use letters, digits and punctuation other than '='", ErrInvalidKey, s, r)
		}
	}
	return nil
}
