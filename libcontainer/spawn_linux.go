package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
)

// spawnOpts says how to start a `berth init` process, for create and exec.
type spawnOpts struct {
	ns          nsSetup
	linux       *specs.Linux // uid/gid maps for a new user namespace
	preserveFDs int
	named       map[string]*os.File // handed over by name (fds.go); the init socket is added here
	adopt       bool                // the caller waits for the workload: adopt nsenter's grandchild
	cgroup      *os.File            // a cgroup v2 directory to start in (CLONE_INTO_CGROUP), or nil
	stdout      *os.File            // instead of berth's own, when set
	stderr      *os.File
}

// spawn starts `berth init` (a re-exec of this binary) in its namespaces and
// returns the host PID that will become the workload. On return p.cmd and
// p.sock are set, even on error, so that p.kill can clean up.
func (p *InitProcess) spawn(o spawnOpts) (int, error) {
	parentSock, childSock, err := newSyncPair()
	if err != nil {
		return 0, err
	}
	defer childSock.Close()
	p.sock = parentSock
	named := map[string]*os.File{fdInitSock: childSock.f}
	for k, v := range o.named {
		named[k] = v
	}
	exeFile, err := sealedExe()
	if err != nil {
		return 0, err
	}
	defer exeFile.Close() // the exec below has resolved it by then
	cmd := &exec.Cmd{
		Args:        []string{"berth", "init"},
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: o.ns.cloneFlags},
	}
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	}
	if o.stderr != nil {
		cmd.Stderr = o.stderr
	}
	if o.ns.cloneFlags&unix.CLONE_NEWUSER != 0 {
		cmd.SysProcAttr.UidMappings = idMap(o.linux.UIDMappings)
		cmd.SysProcAttr.GidMappings = idMap(o.linux.GIDMappings)
		// An unprivileged caller may write its gid map only once
		// setgroups is "deny" (Go writes it then); and then no one in the
		// namespace may call setgroups, Go's child included.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = !unprivileged()
		// Become the namespace's root before exec: an unmapped uid would
		// lose every capability at execve.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: unprivileged()}
	}
	if o.cgroup != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(o.cgroup.Fd())
	}
	if err := handOver(cmd, o.preserveFDs, named); err != nil {
		return 0, err
	}
	cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	// The sealed binary goes last and is exec'd by its number in the child:
	// the parent's own number could be reused by os/exec's descriptor
	// shuffle before the exec (golang/go#61751). init closes it first thing.
	cmd.ExtraFiles = append(cmd.ExtraFiles, exeFile)
	exeFD := strconv.Itoa(2 + len(cmd.ExtraFiles))
	cmd.Path = "/proc/self/fd/" + exeFD
	cmd.Env = append(cmd.Env, fdExe+"="+exeFD)
	if o.ns.env != nil {
		cmd.Env = append(cmd.Env, o.ns.env...)
		cmd.Env = append(cmd.Env, "_BERTH_NSENTER="+strings.TrimPrefix(envValue(cmd.Env, fdInitSock), fdInitSock+"="))
	}
	if o.adopt && o.ns.fork {
		// The workload will be nsenter's grandchild: adopt it to wait for it.
		if err := linux.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, err
		}
	}
	if trace {
		cmd.Env = append(cmd.Env, "BERTH_TRACE=1")
	}
	tracePoint("spawn:start")
	if err := cmd.Start(); err != nil {
		if errors.Is(err, unix.EINVAL) && o.ns.cloneFlags&unix.CLONE_NEWUSER != 0 {
			// The child's write of uid_map or gid_map: validateIDMappings
			// catches what it knows of, the kernel may know more.
			return 0, fmt.Errorf("start init in a new user namespace: the kernel refused linux.uidMappings or linux.gidMappings: %w", unix.EINVAL)
		}
		return 0, fmt.Errorf("start init: %w", err)
	}
	p.cmd = cmd
	p.Pid = cmd.Process.Pid
	if o.ns.env != nil {
		if p.Pid, err = p.nsenterHandshake(o.ns, o.linux); err != nil {
			return 0, err
		}
	}
	return p.Pid, nil
}

// kill stops a half-started init and everything spawn made.
func (p *InitProcess) kill() {
	if p.sock != nil {
		p.sock.Close()
	}
	if p.cmd != nil && p.cmd.Process != nil {
		if p.Pid > 0 && p.Pid != p.cmd.Process.Pid {
			unix.Kill(p.Pid, unix.SIGKILL) // nsenter's grandchild
		}
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	if p.Console != nil {
		p.Console.Close()
	}
}

func envValue(env []string, key string) string {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return e
		}
	}
	return ""
}

func idMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, e := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}
