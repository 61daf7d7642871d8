package plugins

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// checkSecure refuses a file or directory that someone other than the
// worker's user or root could change: one writable by group or others, or
// owned by another user. path is followed through symbolic links.
func checkSecure(path string, uid int) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	return checkInfo(path, fi, uid)
}

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
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid && st.Uid != 0 {
		return fmt.Errorf("plugins: %w: %s is owned by uid %d, not by the worker's user (uid %d) or root; run chown %d %s",
			ErrInsecure, path, st.Uid, uid, uid, path)
	}
	return nil
}

// checkTree checks every path from dir down to file (dir itself, each
// directory between them, and file).
func checkTree(dir, file string, uid int) error {
	rel, err := filepath.Rel(dir, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("plugins: %s is not inside %s", file, dir)
	}
	p := dir
	if err := checkSecure(p, uid); err != nil {
		return err
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if part == "." {
			continue
		}
		p = filepath.Join(p, part)
		if err := checkSecure(p, uid); err != nil {
			return err
		}
	}
	return nil
}
