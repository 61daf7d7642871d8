package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The path rules (docs/plugins.md, "Security"), as OpenSSH's StrictModes
// and sudo apply them:
//
//   - Every path is resolved through its symbolic links first, and the
//     checks apply to the resolved path: a link cannot hide the file that
//     runs.
//   - A plugin's manifest and entry must resolve inside the plugin's
//     directory. A plugin directory may be a link (a versioned deploy).
//   - Every directory from / down to the file, and the file, must be owned
//     by root or the worker's user and not be writable by group or others.
//     The one exception is a directory above plugins.dir (or above a
//     linked plugin directory) that root owns and that has the sticky bit,
//     such as /tmp: others may create files there but cannot rename or
//     remove ours.
//   - The file that runs is the file that was checked: Spec.CheckEntry
//     compares the entry's identity with the one checked before each
//     process starts, and Spec.OpenEntry reads the checked file.

// checkInfo refuses a file or directory that someone other than the
// worker's user or root could change: one writable by group or others, or
// owned by another user.
func checkInfo(path string, fi fs.FileInfo, uid int) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		who := "group and others"
		switch perm & 0o022 {
		case 0o020:
			who = "its group"
		case 0o002:
			who = "others"
		}
		return fmt.Errorf("plugins: %w: %s is writable by %s (mode %04o), so they could change the code the worker runs; run chmod go-w %s",
			ErrInsecure, path, who, perm, path)
	}
	return checkOwner(path, fi, uid)
}

func checkOwner(path string, fi fs.FileInfo, uid int) error {
	if owner, ok := ownerOf(fi); ok && owner != uid && owner != 0 {
		return fmt.Errorf("plugins: %w: %s is owned by uid %d, not by the worker's user (uid %d) or root; run chown %d %s",
			ErrInsecure, path, owner, uid, uid, path)
	}
	return nil
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}

// inside reports whether path is dir or below it (both clean and
// absolute).
func inside(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// realPath returns the absolute path of path with every symbolic link
// resolved.
func realPath(path string) (string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("plugins: %w", err)
	}
	return filepath.Abs(resolved)
}

// checkChain checks every component of resolved (a path without symbolic
// links), from / down to resolved itself. Directories strictly above trust
// may be writable by others when root owns them and they have the sticky
// bit. It returns the FileInfo of resolved.
func checkChain(resolved, trust string, uid int) (fs.FileInfo, error) {
	p := string(filepath.Separator)
	rest := strings.TrimPrefix(resolved, p)
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, string(filepath.Separator))
	}
	for i := 0; ; i++ {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("plugins: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("plugins: %w: %s became a symbolic link while it was checked; the worker checks it again at the next change", ErrInsecure, p)
		}
		above := p != trust && inside(p, trust)
		// /tmp and the like: others cannot replace what is ours.
		owner, ok := ownerOf(fi)
		stickyOfRoot := above && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0 && ok && owner == 0
		if !stickyOfRoot {
			if err := checkInfo(p, fi, uid); err != nil {
				return nil, err
			}
		}
		if i == len(parts) {
			return fi, nil
		}
		p = filepath.Join(p, parts[i])
	}
}

// CheckDir checks that dir can serve as plugins.dir for a worker running as
// uid: it resolves dir's symbolic links and checks the directory and every
// directory above it up to / (see the path rules above). Run checks it
// too; a worker calls it first to report a bad directory before it
// connects anywhere.
func CheckDir(dir string, uid int) error {
	_, err := checkDir(dir, uid)
	return err
}

// checkDir is CheckDir returning the resolved directory.
func checkDir(dir string, uid int) (string, error) {
	resolved, err := realPath(dir)
	if err != nil {
		return "", fmt.Errorf("plugins: plugins.dir: %w", errors.Unwrap(err))
	}
	fi, err := checkChain(resolved, resolved, uid)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("plugins: plugins.dir: %s is not a directory", dir)
	}
	return resolved, nil
}

// checkedDir is a plugin directory after its checks.
type checkedDir struct {
	resolved string // resolved
	trust    string // where the sticky-bit exception ends
}

// checkPluginDir resolves and checks a plugin directory in the resolved
// plugins.dir root.
func checkPluginDir(root, dir string, uid int) (checkedDir, error) {
	resolved, err := realPath(dir)
	if err != nil {
		return checkedDir{}, err
	}
	trust := root
	if !inside(root, resolved) {
		trust = resolved // a plugin directory linked from elsewhere
	}
	fi, err := checkChain(resolved, trust, uid)
	if err != nil {
		return checkedDir{}, err
	}
	if !fi.IsDir() {
		return checkedDir{}, fmt.Errorf("plugins: %s is not a directory", dir)
	}
	return checkedDir{resolved: resolved, trust: trust}, nil
}

// checkFile resolves file (a path inside the plugin directory d, as
// written) and checks it: the result must lie inside d, and every
// component must pass the checks. It returns the resolved path and its
// FileInfo.
func (d checkedDir) checkFile(file string, uid int) (string, fs.FileInfo, error) {
	resolved, err := realPath(file)
	if err != nil {
		return "", nil, err
	}
	if !inside(d.resolved, resolved) || resolved == d.resolved {
		return "", nil, fmt.Errorf("plugins: %w: %s resolves to %s, outside the plugin directory %s; a symbolic link in a plugin may point only inside its directory",
			ErrInsecure, file, resolved, d.resolved)
	}
	fi, err := checkChain(resolved, d.trust, uid)
	if err != nil {
		return "", nil, err
	}
	return resolved, fi, nil
}

// fileID identifies the content of a file as checked: a file replaced,
// rewritten, moved over, or whose mode or owner changed has another
// (rename changes the inode; write the size or mtime; chmod and chown the
// ctime).
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
	mode         fs.FileMode
	uid          uint32
}

func idOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino, id.ctime, id.uid = uint64(st.Dev), st.Ino, st.Ctim.Nano(), st.Uid //nolint:unconvert // Dev is not uint64 on every platform
	}
	return id
}

// openChecked opens the checked file resolved without following a symbolic
// link and makes sure it is the file fi describes.
func openChecked(resolved string, fi fs.FileInfo) (*os.File, error) {
	f, err := os.OpenFile(resolved, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	got, err := f.Stat()
	if err == nil && idOf(got) != idOf(fi) {
		err = fmt.Errorf("%w: %s changed while it was checked; the worker checks it again at the next change", ErrInsecure, resolved)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("plugins: %w", err)
	}
	return f, nil
}
