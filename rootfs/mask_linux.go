package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// maskPaths hides linux.maskedPaths, as runc 1.5 does: each path once
// (duplicates are skipped); a directory under an empty read-only tmpfs,
// one for all of them (the first is mounted, the others are binds of it,
// which keep its read-only flag); anything else under /dev/null, verified
// to be the real null device first.
func maskPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	null, err := openDevNull()
	if err != nil {
		return err
	}
	defer null.Close()
	var shared *os.File // the first masking tmpfs
	defer func() {
		if shared != nil {
			shared.Close()
		}
	}()
	done := map[string]bool{}
	for _, p := range paths {
		clean := filepath.Clean("/" + p)
		if done[clean] {
			continue
		}
		done[clean] = true
		if err := maskPath(p, null, &shared); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	return nil
}

// maskPath masks one path; *shared is the tmpfs directories share, set by
// the first directory masked.
func maskPath(path string, null *os.File, shared **os.File) error {
	f, err := openNoFollow(path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return linux.Mount(procFdPath(null), procFdPath(f), "", unix.MS_BIND, "")
	}
	if *shared != nil {
		if err := linux.Mount(procFdPath(*shared), procFdPath(f), "", unix.MS_BIND, ""); err == nil {
			return nil
		}
		// A bind that fails: a tmpfs of its own, as before.
	}
	if err := linux.Mount("tmpfs", procFdPath(f), "tmpfs", unix.MS_RDONLY, "size=0k"); err != nil {
		return err
	}
	if *shared == nil {
		m, err := openNoFollow(path) // the new mount, not the directory under it
		if err != nil {
			return err
		}
		*shared = m
	}
	return nil
}

// openDevNull opens the container's /dev/null and checks it is the null
// character device (1:3), not a file or a link planted in its place.
func openDevNull() (*os.File, error) {
	f, err := openNoFollow("/dev/null")
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, errors.New("/dev/null in the container is not the null device: refusing to mask paths with it")
	}
	return f, nil
}
