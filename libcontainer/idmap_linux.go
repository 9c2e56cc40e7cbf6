package libcontainer

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/rootfs"
)

// The parent's side of idmapped mounts (rootfs/idmap_linux.go): a user
// namespace for each mapping, and a detached idmapped clone of each such
// mount's source, made in the container's mount namespace (inMountNS) and
// sent to init with the plan.

// holdUserNSEnv makes `berth init` only wait until its stdin closes: the
// process that keeps a mapping's user namespace alive while berth opens it.
const holdUserNSEnv = "_BERTH_USERNS_HOLD"

// holdUserNS is init's side of newMappedUserNS.
func holdUserNS() {
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// openIdmappedMounts makes the detached idmapped mounts of spec, cloned in
// the mount namespace of the container's init pid (inMountNS), and returns
// them with their mount indices; they go to init with the plan. The caller
// closes them once init has them.
func openIdmappedMounts(spec *specs.Spec, bundleDir string, pid int) ([]*os.File, []int, error) {
	userns := map[string]*os.File{} // one namespace per distinct mapping
	defer closeFileMap(userns)
	type req struct {
		i      int
		source string
		ns     *os.File
	}
	var reqs []req
	for i, m := range spec.Mounts {
		if idmapped, _ := rootfs.Idmapped(m); !idmapped {
			continue
		}
		uids, gids := m.UIDMappings, m.GIDMappings
		if len(uids) == 0 {
			uids, gids = spec.Linux.UIDMappings, spec.Linux.GIDMappings
		}
		key := fmt.Sprint(uids, gids)
		ns := userns[key]
		if ns == nil {
			var err error
			if len(m.UIDMappings) == 0 && userNSPath(spec) != "" {
				ns, err = os.Open(userNSPath(spec)) // the joined namespace's own mapping
			} else {
				ns, err = newMappedUserNS(uids, gids)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("mounts[%d] (%s): user namespace for the idmapping: %w", i, m.Destination, err)
			}
			userns[key] = ns
		}
		source := m.Source
		if !filepath.IsAbs(source) {
			source = filepath.Join(bundleDir, source)
		}
		reqs = append(reqs, req{i, source, ns})
	}
	if len(reqs) == 0 {
		return nil, nil, nil
	}
	var files []*os.File
	var idx []int
	run := inMountNS
	if !hasNS(spec, specs.MountNamespace) { // the container's is berth's own
		run = func(_ int, fn func() error) error { return fn() }
	}
	err := run(pid, func() error {
		for _, r := range reqs {
			f, err := rootfs.OpenIdmapped(r.source, spec.Mounts[r.i], r.ns)
			if err != nil {
				return fmt.Errorf("mounts[%d] (%s): %w", r.i, spec.Mounts[r.i].Destination, err)
			}
			files = append(files, f)
			idx = append(idx, r.i)
		}
		return nil
	})
	if err != nil {
		closeFiles(files)
		return nil, nil, err
	}
	return files, idx, nil
}

func closeFileMap(m map[string]*os.File) {
	for _, f := range m {
		f.Close()
	}
}

// newMappedUserNS returns a user namespace with the given maps: a process
// (this binary, waiting on its stdin) is started in a new one, which os/exec
// maps from here; its namespace is opened, then the process ends.
func newMappedUserNS(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: []string{"berth", "init"}, Stdin: r,
		Env: []string{holdUserNSEnv + "=1", "GOMAXPROCS=1"},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER, UidMappings: idMap(uids), GidMappings: idMap(gids),
			Pdeathsig: unix.SIGKILL,
		},
	}
	err = cmd.Start()
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("start a process in a new user namespace: %w", err)
	}
	defer cmd.Wait()
	defer w.Close() // the process ends at EOF
	ns, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/user")
	if err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return ns, nil
}
