package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts      []string
		fsType    string
		flags     uintptr
		data      string
		bind, rec bool
		nprop     int
	}{
		{[]string{"nosuid", "nodev", "mode=755"}, "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=755", false, false, 0},
		{[]string{"rbind", "ro"}, "none", unix.MS_RDONLY, "", true, true, 0},
		{[]string{"bind"}, "none", 0, "", true, false, 0},
		{nil, "bind", 0, "", true, false, 0},
		{[]string{"ro", "rw"}, "tmpfs", 0, "", false, false, 0},
		{[]string{"rshared", "private", "size=1k", "uid=5"}, "tmpfs", 0, "size=1k,uid=5", false, false, 2},
		{[]string{"noexec", "exec"}, "proc", 0, "", false, false, 0},
	} {
		o := parseOptions(tc.opts, tc.fsType)
		if o.flags != tc.flags || o.dataString() != tc.data || o.bind != tc.bind || o.recursive != tc.rec || len(o.propagation) != tc.nprop {
			t.Errorf("parseOptions(%v, %s) = flags %#x data %q bind %v rec %v prop %d", tc.opts, tc.fsType, o.flags, o.dataString(), o.bind, o.recursive, len(o.propagation))
		}
	}
}

// runc 1.5's options: "defaults" is no data; the recursive ones set or
// clear mount attributes, an atime one with MOUNT_ATTR__ATIME cleared.
func TestParseRuncOptions(t *testing.T) {
	o := parseOptions([]string{"defaults", "nosymfollow", "iversion", "rexec", "rnosymfollow", "rrelatime"}, "tmpfs")
	if o.dataString() != "" || o.flags != unix.MS_NOSYMFOLLOW|unix.MS_I_VERSION {
		t.Errorf("flags %#x data %q", o.flags, o.dataString())
	}
	if o.recAttrSet != unix.MOUNT_ATTR_NOSYMFOLLOW || o.recAttrClr != unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR__ATIME {
		t.Errorf("set %#x clear %#x", o.recAttrSet, o.recAttrClr)
	}
	if o := parseOptions([]string{"noiversion"}, "tmpfs"); o.clear != unix.MS_I_VERSION {
		t.Errorf("noiversion: clear %#x", o.clear)
	}
}
