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
	// recAttrSet and recAttrClr come from "rro", "rnosuid", "rexec", ...:
	// set and cleared on the whole mount tree with
	// mount_setattr(AT_RECURSIVE) (Linux 5.12).
	recAttrSet, recAttrClr uint64
	// tmpcopyup (runc's extension, used by podman): a tmpfs starts with a
	// copy of what the image has at its mount point.
	copyUp bool
	// idmap and ridmap: an idmapped mount (idmap_linux.go), of the whole
	// tree with ridmap.
	idmap, ridmap bool
}

// recursiveAttrOptions are runc's, with its meaning (MOUNT_ATTR_RELATIME
// is 0: "rrelatime" only clears the other atime settings).
var recursiveAttrOptions = map[string]struct {
	clear bool
	flag  uint64
}{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime": {false, unix.MOUNT_ATTR_RELATIME}, "rnorelatime": {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "ratime": {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime": {false, unix.MOUNT_ATTR_STRICTATIME}, "rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
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
	"remount":     {false, unix.MS_REMOUNT},
	"nosymfollow": {false, unix.MS_NOSYMFOLLOW}, "symfollow": {true, unix.MS_NOSYMFOLLOW},
	"iversion": {false, unix.MS_I_VERSION}, "noiversion": {true, unix.MS_I_VERSION},
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
		case opt == "idmap":
			o.idmap = true
		case opt == "ridmap":
			o.idmap, o.ridmap = true, true
		case opt == "defaults":
			// no flag of its own, and not data either (runc)
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
		case isRecursiveAttr(opt):
			o.addRecursiveAttr(opt)
		default:
			o.data = append(o.data, opt)
		}
	}
	return o
}

func isRecursiveAttr(opt string) bool {
	_, ok := recursiveAttrOptions[opt]
	return ok
}

// addRecursiveAttr adds one "r..." option, as runc does: an atime
// setting also clears the others (mount_setattr(2) wants
// MOUNT_ATTR__ATIME in attr_clr with it).
func (o *mountOpts) addRecursiveAttr(opt string) {
	a := recursiveAttrOptions[opt]
	if a.clear {
		o.recAttrClr |= a.flag
		o.recAttrSet &^= a.flag
	} else {
		o.recAttrSet |= a.flag
		o.recAttrClr &^= a.flag
	}
	if a.flag&unix.MOUNT_ATTR__ATIME == a.flag {
		o.recAttrClr |= unix.MOUNT_ATTR__ATIME
	}
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
	out = append(out, "bind", "rbind", "tmpcopyup", "defaults", "idmap", "ridmap")
	sort.Strings(out)
	return out
}
