package rootfs

import (
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOpts is a spec mount's options split the way mount(2) wants them.
type mountOpts struct {
	flags       uintptr   // MS_* flags for the mount itself
	clear       uintptr   // flags an option asked to clear (rw, suid, ...)
	propagation []uintptr // MS_SHARED, MS_PRIVATE, ... applied one by one after
	data        []string  // filesystem-specific options, passed as data
	bind        bool
	recursive   bool
	// recursiveAttr are "rro", "rnosuid", ...: set on the whole mount tree
	// with mount_setattr(AT_RECURSIVE) (Linux 5.12).
	recursiveAttr uint64
	// tmpcopyup (runc's extension, used by podman): a tmpfs starts with a
	// copy of what the image has at its mount point.
	copyUp bool
}

var recursiveAttrOptions = map[string]uint64{
	"rro": unix.MOUNT_ATTR_RDONLY, "rnosuid": unix.MOUNT_ATTR_NOSUID, "rnodev": unix.MOUNT_ATTR_NODEV,
	"rnoexec": unix.MOUNT_ATTR_NOEXEC, "rnoatime": unix.MOUNT_ATTR_NOATIME, "rnodiratime": unix.MOUNT_ATTR_NODIRATIME,
}

var flagOptions = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC},
	"mand":    {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"lazytime": {false, unix.MS_LAZYTIME}, "nolazytime": {true, unix.MS_LAZYTIME},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
	"remount": {false, unix.MS_REMOUNT},
}

var propagationOptions = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// PropagationFlag maps a linux.rootfsPropagation value to its flags.
func PropagationFlag(name string) (uintptr, bool) {
	f, ok := propagationOptions[name]
	return f, ok
}

func parseOptions(opts []string, fsType string) mountOpts {
	var o mountOpts
	if fsType == "bind" {
		o.bind = true
	}
	for _, opt := range opts {
		switch {
		case opt == "bind":
			o.bind = true
		case opt == "rbind":
			o.bind, o.recursive = true, true
		case opt == "tmpcopyup":
			o.copyUp = true
		case flagOptions[opt].flag != 0:
			f := flagOptions[opt]
			if f.clear {
				o.flags &^= f.flag
				o.clear |= f.flag
			} else {
				o.flags |= f.flag
			}
		case propagationOptions[opt] != 0:
			o.propagation = append(o.propagation, propagationOptions[opt])
		case recursiveAttrOptions[opt] != 0:
			o.recursiveAttr |= recursiveAttrOptions[opt]
		default:
			o.data = append(o.data, opt)
		}
	}
	return o
}

func (o mountOpts) dataString() string { return strings.Join(o.data, ",") }

// KnownOptions lists the mount options berth understands, for `features`.
func KnownOptions() []string {
	var out []string
	for o := range flagOptions {
		out = append(out, o)
	}
	for o := range propagationOptions {
		out = append(out, o)
	}
	for o := range recursiveAttrOptions {
		out = append(out, o)
	}
	out = append(out, "bind", "rbind", "tmpcopyup")
	sort.Strings(out)
	return out
}
