package native

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/tuskq/tuskq/plugins"
)

// ErrCacheDir is wrapped by errors about Options.CacheDir.
var ErrCacheDir = errors.New("unusable native plugin cache directory")

// defaultCacheDir is where libraries are copied when Options.CacheDir is
// empty: a directory of the worker's user under the system's temporary
// directory.
func defaultCacheDir() string {
	return filepath.Join(os.TempDir(), "tuskq-native-"+strconv.Itoa(os.Geteuid()))
}

// prepareCacheDir creates dir (0700) when missing and refuses one that
// another user owns or that group or others can write: whoever can write
// there can choose the code the worker runs.
func prepareCacheDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by group or others (mode %04o), so they could replace the code the worker loads; run chmod go-w %s or choose another directory",
			ErrCacheDir, dir, perm, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s is owned by uid %d, not by the worker's user (uid %d); remove it or choose another directory",
			ErrCacheDir, dir, st.Uid, os.Geteuid())
	}
	return nil
}

// cacheCopy copies the library at spec.Entry (read through OpenEntry) into dir under a name made of the
// SHA-256 of its contents and returns that path, the digest and the size.
// An existing copy is reused: the name is the content.
func cacheCopy(dir string, spec plugins.Spec) (path, digest string, size int64, err error) {
	f, err := spec.OpenEntry()
	if err != nil {
		return "", "", 0, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return "", "", 0, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	size = int64(len(data))
	sum := sha256.Sum256(data)
	digest = hex.EncodeToString(sum[:])
	dst := filepath.Join(dir, digest+".so")
	if _, err := os.Stat(dst); err == nil {
		return dst, digest, size, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", 0, fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*.so")
	if err != nil {
		return "", "", 0, fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", "", 0, fmt.Errorf("%w: write %s: %w", ErrCacheDir, tmp.Name(), err)
	}
	if err := tmp.Chmod(0o500); err != nil {
		tmp.Close()
		return "", "", 0, fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	if err := tmp.Close(); err != nil {
		return "", "", 0, fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", "", 0, fmt.Errorf("%w: %w", ErrCacheDir, err)
	}
	return dst, digest, size, nil
}
