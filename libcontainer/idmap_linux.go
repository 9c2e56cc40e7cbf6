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
// mount's source, handed to init by name.

// fdIdmapPrefix + the mount's index names its detached mount for init.
const fdIdmapPrefix = "_BERTH_FD_IDMAP_"

// holdUserNSEnv makes `berth init` only wait until its stdin closes: the
// process that keeps a mapping's user namespace alive while berth opens it.
const holdUserNSEnv = "_BERTH_USERNS_HOLD"

// holdUserNS is init's side of newMappedUserNS.
func holdUserNS() {
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// openIdmappedMounts makes the detached idmapped mounts of spec, keyed by
// the name init finds each under, and adds them to named too. The caller
// closes them once init has them.
func openIdmappedMounts(spec *specs.Spec, bundleDir string, named map[string]*os.File) (map[string]*os.File, error) {
	out := map[string]*os.File{}
	userns := map[string]*os.File{} // one namespace per distinct mapping
	defer func() {
		for _, f := range userns {
			f.Close()
		}
	}()
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
				closeFileMap(out)
				return nil, fmt.Errorf("mounts[%d] (%s): user namespace for the idmapping: %w", i, m.Destination, err)
			}
			userns[key] = ns
		}
		source := m.Source
		if !filepath.IsAbs(source) {
			source = filepath.Join(bundleDir, source)
		}
		f, err := rootfs.OpenIdmapped(source, m, ns)
		if err != nil {
			closeFileMap(out)
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
		out[fdIdmapPrefix+strconv.Itoa(i)] = f
		named[fdIdmapPrefix+strconv.Itoa(i)] = f
	}
	return out, nil
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

// idmappedFromParent is init's side: the detached mounts by mount index.
func idmappedFromParent(mounts []specs.Mount) (map[int]*os.File, error) {
	out := map[int]*os.File{}
	for i, m := range mounts {
		if idmapped, _ := rootfs.Idmapped(m); !idmapped {
			continue
		}
		f, err := inheritedFD(fdIdmapPrefix + strconv.Itoa(i))
		if err != nil {
			return out, err
		}
		if f != nil {
			unix.CloseOnExec(int(f.Fd()))
			out[i] = f
		}
	}
	return out, nil
}
