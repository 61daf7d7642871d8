package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Names of the switch that lets a config file holding secrets be readable
// by group or others: a flag registered by AddFlags and an environment
// variable. It is not a configuration key, so that the file whose mode is
// in question cannot allow itself.
const (
	flagAllowReadable = "allow-readable-config"
	envAllowReadable  = "TUSKQ_ALLOW_READABLE_CONFIG"
)

// ErrReadableSecrets is wrapped by the error of Load when the config file
// holds secrets (passwords, password hashes, tokens) and its mode lets
// group or others read it.
var ErrReadableSecrets = errors.New("config file holding secrets is readable by group or others")

// allowReadable reports whether the operator allowed a readable file with
// secrets: LoadOptions.AllowReadableFile, --allow-readable-config or
// TUSKQ_ALLOW_READABLE_CONFIG=true.
func allowReadable(opts LoadOptions) (bool, error) {
	if opts.AllowReadableFile {
		return true, nil
	}
	if opts.Flags != nil {
		if f := opts.Flags.Lookup(flagAllowReadable); f != nil && f.Changed && f.Value.String() == "true" {
			return true, nil
		}
	}
	allow := false
	for _, kv := range opts.Environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name != envAllowReadable {
			continue
		}
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return false, fmt.Errorf("config: %s=%q: want true or false", envAllowReadable, value)
		}
		allow = b
	}
	return allow, nil
}

// secretKeys returns the keys of the file layer l that hold a secret with a
// value, sorted.
func (s *schema) secretKeys(l *layer) []string {
	var keys []string
	for key := range l.sources {
		f, ok := s.byPath[key]
		if !ok || !f.sensitive() || !hasValue(valueAt(l.tree, key)) {
			continue
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// valueAt returns the value at the dotted path of tree, or nil.
func valueAt(tree map[string]any, path string) any {
	var v any = tree
	for part := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// hasValue reports whether v is set: not nil, not an empty string, list
// or map.
func hasValue(v any) bool {
	if v == nil {
		return false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return rv.Len() > 0
	}
	return !rv.IsZero()
}

// checkFileMode refuses path, which holds the secrets at keys, when group
// or others may read it and allow is false.
func checkFileMode(path string, keys []string, allow bool) error {
	if len(keys) == 0 || allow {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	mode := fi.Mode().Perm()
	if mode&0o044 == 0 {
		return nil
	}
	return fmt.Errorf("config: %w: %s has mode %04o and holds %s; "+
		"make it readable by its owner only (chmod 600 %s), "+
		"or start with --allow-readable-config (or %s=true) to accept the risk",
		ErrReadableSecrets, path, mode, strings.Join(keys, ", "), path, envAllowReadable)
}
