package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// hideHostProcSys takes the host's full proc and sysfs mounts out of the
// container's mount namespace before --no-pivot moves the rootfs onto /.
// The old root stays in the namespace under the new one, and the kernel
// lets a process mount a new proc (in a user and pid namespace of its
// own) wherever a full proc mount is visible in its mount namespace: the
// host's would make a bare /proc mountable inside the container. Each is
// detached, or where that is not allowed covered with a tmpfs, as runc
// does. Its own, under the rootfs, stay.
func hideHostProcSys(rootfs string) error {
	points, err := fullProcSysMounts(rootfs)
	if err != nil {
		return err
	}
	for _, p := range points {
		// No unmount may reach the host's mount table.
		if err := unix.Mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				continue // gone with a mount above it
			}
			return &os.PathError{Op: "make slave", Path: p, Err: err}
		}
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
			err = linux.Mount("tmpfs", p, "tmpfs", 0, "size=0k")
		}
		if err != nil {
			return fmt.Errorf("--no-pivot: hide the host's %s: %w", p, err)
		}
	}
	return nil
}

// fullProcSysMounts lists the mount points of proc and sysfs mounts of the
// whole filesystem (root "/") outside rootfs, from /proc/self/mountinfo.
func fullProcSysMounts(rootfs string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 1 {
			continue
		}
		if fsType := after[0]; (fsType != "proc" && fsType != "sysfs") || fields[3] != "/" {
			continue
		}
		mp := octalUnescape(fields[4])
		if mp == rootfs || strings.HasPrefix(mp, rootfs+"/") {
			continue
		}
		out = append(out, mp)
	}
	return out, sc.Err()
}

// octalUnescape undoes mountinfo's \NNN escapes (a space is \040).
func octalUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
