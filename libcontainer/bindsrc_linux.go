package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/rootfs"
)

// Bind-mount sources of a container with a new user namespace. Init, root
// of that namespace only, cannot reach a source that only the host's root
// may (a 0700 directory of root's): the parent clones each source first,
// as runc does, with open_tree(OPEN_TREE_CLONE) from a thread that has
// entered the container's mount namespace (so the clone is of the copies
// there, whose flags and submounts the kernel locks), and sends the clones
// with the plan; init moves each onto its target in mount order
// (rootfs.Config.BindSources) and closes the rest before the workload runs.
// A source the parent cannot clone is left to init, which reports it as
// today. Containers without a new user namespace pay nothing for this.

// wantsBindSources reports whether the parent clones spec's bind sources.
func wantsBindSources(spec *specs.Spec) bool {
	return hasNS(spec, specs.UserNamespace) && userNSPath(spec) == "" &&
		hasNS(spec, specs.MountNamespace) && !unprivileged()
}

// openBindSources clones the bind sources of spec in the mount namespace
// of the process pid; it returns the clones and their mount indices. A
// source inside the rootfs is the container's own: init binds it itself,
// in order with the mounts that may be made above it.
func openBindSources(spec *specs.Spec, bundleDir, rootfsDir string, pid int) ([]*os.File, []int) {
	type req struct {
		i      int
		source string
		flags  uint
	}
	var reqs []req
	root := filepath.Clean(rootfsDir)
	for i, m := range spec.Mounts {
		if idmapped, _ := rootfs.Idmapped(m); idmapped {
			continue
		}
		bind, recursive := rootfs.IsBind(m)
		if !bind {
			continue
		}
		source := m.Source
		if !filepath.IsAbs(source) {
			source = filepath.Join(bundleDir, source)
		}
		source = filepath.Clean(source)
		if source == root || strings.HasPrefix(source, root+"/") {
			continue
		}
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		if recursive {
			flags |= unix.AT_RECURSIVE
		}
		reqs = append(reqs, req{i, source, flags})
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	var files []*os.File
	var idx []int
	inMountNS(pid, func() error {
		for _, r := range reqs {
			fd, err := unix.OpenTree(unix.AT_FDCWD, r.source, r.flags)
			if err != nil {
				continue // init tries, and reports the source as today
			}
			files = append(files, os.NewFile(uintptr(fd), r.source))
			idx = append(idx, r.i)
		}
		return nil
	})
	return files, idx
}

// inMountNS runs fn on a thread of its own that has entered the mount
// namespace of the process pid (with its root and working directory). The
// thread ends with fn. Clones made there are of that namespace's copies
// of the host's mounts, which keep the kernel's locks (MNT_LOCKED and the
// locked flags): a clone made in the host's namespace has none, and the
// container's root could unmount a submount to see what it hides.
func inMountNS(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread, moved to another mount
		// namespace, ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- os.NewSyscallError("unshare CLONE_FS", err)
			return
		}
		ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS)
		ns.Close()
		if err != nil {
			errc <- fmt.Errorf("enter the container's mount namespace: %w", os.NewSyscallError("setns", err))
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// clonesFromParent is init's side: the clones by mount index.
func clonesFromParent(idx []int, fds []int) map[int]*os.File {
	out := map[int]*os.File{}
	for k, i := range idx {
		unix.CloseOnExec(fds[k])
		out[i] = os.NewFile(uintptr(fds[k]), "mount-clone-"+strconv.Itoa(i))
	}
	return out
}
