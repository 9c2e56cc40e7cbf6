package libcontainer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/linux"
	"github.com/berth-project/berth/network"
	"github.com/berth-project/berth/rootfs"
)

// Init is `berth init`: the child side of the init protocol, already in the
// container's new namespaces. It never returns: it execs the workload or
// reports the error to the parent and exits 1. It never touches state.json
// and never logs; the parent prints the one error the user sees.
func Init() {
	if os.Getenv(holdUserNSEnv) == "1" {
		holdUserNS() // never returns
	}
	// Capabilities and the exec below are per thread: stay on this one.
	runtime.LockOSThread()
	// Non-dumpable until execve: no process of the container can ptrace
	// init or read its memory while it still holds berth's privileges.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Exec'd through /proc/self/fd/N, init's name would be "N" in ps and in
	// the kernel's OOM reports.
	name := []byte("berth:init\x00")
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
	closeInherited(fdExe) // the binary is running now; nothing else uses it
	sock, err := inheritedFD(fdInitSock)
	if err != nil || sock == nil {
		fmt.Fprintln(os.Stderr, "berth init: run by berth itself only, not by hand")
		os.Exit(1)
	}
	s := &syncSocket{f: sock}
	defer func() {
		// A bug in init must still reach the user as one message.
		if r := recover(); r != nil {
			s.send(syncMsg{Type: msgError, Error: fmt.Sprintf("berth init: internal error: %v", r)})
			os.Exit(1)
		}
	}()
	err = initProcess(s)
	if err != nil {
		s.send(syncMsg{Type: msgError, Error: err.Error()})
	}
	os.Exit(1)
}

// initProcess reads the plan and sets up a new container, or, for exec, a
// process in an existing one.
func initProcess(s *syncSocket) error {
	msg, cgFDs, err := s.recv()
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	if msg.Type != msgPlan || (msg.Plan == nil && !msg.PlanInFD) {
		closeFDs(cgFDs)
		return fmt.Errorf("init protocol: expected plan, got %q", msg.Type)
	}
	raw, cgFDs, err := planPayload(msg, cgFDs)
	if err != nil {
		closeFDs(cgFDs)
		return err
	}
	plan, err := decodePlan(raw)
	if err != nil {
		closeFDs(cgFDs)
		return err
	}
	nCg, nIdmap := len(plan.JoinTasks), len(plan.Idmapped)
	if len(cgFDs) != nCg+nIdmap+len(plan.BindSources) {
		closeFDs(cgFDs)
		return fmt.Errorf("init protocol: %d descriptors for %d tasks files and %d detached mounts", len(cgFDs), nCg, nIdmap+len(plan.BindSources))
	}
	// close-on-exec from here: the workload never holds one
	clones := [2]map[int]*os.File{clonesFromParent(plan.Idmapped, cgFDs[nCg:nCg+nIdmap]), clonesFromParent(plan.BindSources, cgFDs[nCg+nIdmap:])}
	cgFDs = cgFDs[:nCg]
	tracePoint("init:plan")
	// The workload gets the caller's timer slack back: this thread execs it,
	// and the slack is per thread and kept across execve.
	if plan.TimerSlack > 0 {
		callerTimerSlack = plan.TimerSlack // for the hooks init runs
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(plan.TimerSlack), 0, 0, 0)
	}
	// In a user namespace (new or joined) berth's host uid 0 is unmapped:
	// become the namespace's root, or files cannot even be created.
	if hasNS(plan.Spec, specs.UserNamespace) {
		if err := linux.SetresgidThread(0, 0, 0); err != nil {
			return fmt.Errorf("become the user namespace's root: %w", err)
		}
		if err := linux.SetresuidThread(0, 0, 0); err != nil {
			return fmt.Errorf("become the user namespace's root: %w", err)
		}
	}
	if err := setInitialCPUAffinity(plan.Spec.Process); err != nil {
		closeFDs(cgFDs)
		return err
	}
	if plan.Exec {
		// nsenter has joined every namespace of the container, and we
		// started in its cgroup (v2) or join it now (v1): only the process
		// is left. A container without a mount namespace has only its chroot.
		if err := joinCgroup(cgFDs, plan.JoinTasks); err != nil {
			return err
		}
		if err := setFinalCPUAffinity(plan.Spec.Process); err != nil {
			return err
		}
		if !hasNS(plan.Spec, specs.MountNamespace) {
			if err := chrootRootfs(plan.Rootfs); err != nil {
				return err
			}
		}
		return startProcess(s, plan, nil)
	}
	fifo, err := inheritedFD(fdExecFifo)
	if err != nil {
		return err
	}
	return initContainer(s, plan, fifo, cgFDs, clones)
}

// chrootRootfs makes rootfs this process's root and working directory, for
// an exec into a container without a mount namespace. A chroot alone would
// leave the working directory, and every relative path, on the host: the
// caller's cwd (and process.cwd resolved against it) would be outside.
func chrootRootfs(rootfs string) error {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return &os.PathError{Op: "fchdir", Path: rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: rootfs, Err: err}
	}
	return nil
}

// initContainer runs the init steps in order. Each step's comment says why it
// sits where it does.
func initContainer(s *syncSocket, plan *Plan, fifo *os.File, cgFDs []int, clones [2]map[int]*os.File) error {
	spec := plan.Spec
	// Before anything that depends on it: the network namespace the parent
	// made, when it did (netns_linux.go).
	if err := enterNetNS(); err != nil {
		return err
	}
	// A new network namespace starts with lo down.
	if hasNS(spec, specs.NetworkNamespace) && nsPath(spec, specs.NetworkNamespace) == "" {
		if err := network.LoopbackUp(); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
	}
	// A session keyring of its own, so the container cannot read the
	// host's keys through the inherited session keyring.
	if !plan.NoNewKeyring {
		if _, err := unix.KeyctlJoinSessionKeyring(plan.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	// Mounts and /dev, then pivot_root: from here on only the container's
	// files are reachable.
	cfg := rootfsConfig(plan)
	cfg.Idmapped, cfg.BindSources = clones[0], clones[1]
	r, err := rootfs.Prepare(cfg)
	if err != nil {
		return err
	}
	// Only now into the cgroup: nothing of init's own start is charged to
	// the container (a container runs under a 1 MiB memory limit). On v2
	// the parent's attach overlapped the mounts above.
	if err := enterCgroup(s, plan, cgFDs); err != nil {
		return err
	}
	if err := setFinalCPUAffinity(spec.Process); err != nil {
		return err
	}
	// Hooks that need the container's mounts but not yet its root: the
	// runtime's own (run by the parent, in the host's namespaces), then the
	// container's (here, in its namespaces).
	if len(hooksOf(spec.Hooks, hookPrestart))+len(hooksOf(spec.Hooks, hookCreateRuntime)) > 0 {
		if err := s.send(syncMsg{Type: msgHooks}); err != nil {
			return err
		}
		msg, _, err := s.recv()
		if err != nil {
			return fmt.Errorf("init protocol: waiting for hooks: %w", err)
		}
		if msg.Type != msgHooksDone {
			return fmt.Errorf("init protocol: waiting for hooks: unexpected message %q", msg.Type)
		}
	}
	// createContainer hooks run in the container's root, as in runc: a
	// hook may use paths relative to it.
	if err := unix.Chdir(plan.Rootfs); err != nil {
		return &os.PathError{Op: "chdir", Path: plan.Rootfs, Err: err}
	}
	if err := runHooks(spec.Hooks, plan.State, hookCreateContainer); err != nil {
		return err
	}
	tracePoint("init:mounted")
	if err := r.Enter(); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := linux.Sethostname(spec.Hostname); err != nil {
			return err
		}
	}
	if spec.Domainname != "" {
		if err := linux.Setdomainname(spec.Domainname); err != nil {
			return err
		}
	}
	if err := applySysctl(spec.Linux.Sysctl); err != nil {
		return err
	}
	// Read-only and masked paths last: sysctl writes to /proc/sys, which
	// is read-only afterwards.
	if err := r.Finalize(); err != nil {
		return err
	}
	return startProcess(s, plan, fifo)
}

// startProcess takes the steps every container process takes, init or
// exec'd: session and terminal, limits, descriptors, privileges, cwd; then
// it reports ready, waits for start and execs the workload.
func startProcess(s *syncSocket, plan *Plan, fifo *os.File) error {
	spec, proc := plan.Spec, plan.Spec.Process
	// The terminal is made inside the container's devpts, and the session
	// before any privilege drop (TIOCSCTTY needs it only once).
	if err := linux.Setsid(); err != nil {
		return err
	}
	if proc.Terminal {
		if err := setupConsole(s, proc, !plan.Exec, plan.OwnTerminal); err != nil {
			return err
		}
	}
	if err := setProcessAttrs(spec); err != nil {
		return err
	}
	// No descriptor the workload was not meant to have survives exec
	// (CVE-2024-21626: a leaked host directory fd let the workload escape).
	if err := closeExecFrom(3 + plan.PreserveFDs); err != nil {
		return err
	}
	// process.cwd is resolved now, inside the container and without magic
	// links (CVE-2024-21626), before a seccomp filter could refuse openat2;
	// it is entered after the user switch.
	cwd, err := openCwd(proc.Cwd)
	if err != nil {
		return err
	}
	err = dropPrivileges(plan, cwd)
	unix.Close(cwd) // entered: init holds only what it needs while it waits
	if err != nil {
		return err
	}
	env := processEnv(proc)
	path, err := lookPath(proc.Args[0], env)
	if err != nil {
		return err
	}
	tracePoint("init:ready")
	if err := s.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	var started *os.File
	if !plan.NoWait {
		if started, err = waitStart(s, fifo); err != nil {
			return err
		}
	}
	// From here, a failure goes to whoever started us: `berth start` reads
	// the FIFO to its end (which comes at execve, by close-on-exec).
	// With no_new_privs the filter goes on after the wait for start, so
	// that as few syscalls as possible (none of berth's setup) run under
	// it; but before the startContainer hooks, which run under the
	// workload's filter, as in runc.
	if plan.Seccomp != nil && proc.NoNewPrivileges {
		err = loadSeccomp(plan)
	}
	if err == nil && plan.State != nil && !plan.Exec {
		plan.State.Status = specs.StateRunning
		err = runHooksEnv(spec.Hooks, plan.State, env, hookStartContainer)
	}
	if err == nil {
		tracePoint("init:exec")
		err = linux.Exec(path, proc.Args, env)
	}
	if started != nil {
		started.Write([]byte(err.Error()))
	}
	return err
}

// setProcessAttrs sets what the process gets while still privileged:
// personality, I/O priority, scheduler, resource limits and the OOM score
// (raising a hard limit or lowering the score needs CAP_SYS_RESOURCE).
func setProcessAttrs(spec *specs.Spec) error {
	proc := spec.Process
	if err := setPersonality(spec.Linux.Personality); err != nil {
		return err
	}
	if err := setMemoryPolicy(spec.Linux.MemoryPolicy); err != nil {
		return err
	}
	if err := setIOPriority(proc.IOPriority); err != nil {
		return err
	}
	if err := setScheduler(proc.Scheduler); err != nil {
		return err
	}
	if err := setRlimits(proc.Rlimits); err != nil {
		return err
	}
	if proc.OOMScoreAdj != nil {
		// nsenter may have set it already (a rootless caller's user
		// namespace: once non-dumpable, init cannot open the file).
		want := fmt.Sprint(*proc.OOMScoreAdj)
		if cur, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil && strings.TrimSpace(string(cur)) == want {
			return nil
		}
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(want), 0); err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	return nil
}

// dropPrivileges takes the process to its final identity, in runc's order
// (which matters for security): seccomp first when it needs CAP_SYS_ADMIN,
// the bounding set while CAP_SETPCAP is held, the user switch with the
// permitted set kept, the final capability sets, then no_new_privs and the
// AppArmor profile for execve. cwd is entered before the user switch (or,
// refused there, after it).
func dropPrivileges(plan *Plan, cwd int) error {
	proc := plan.Spec.Process
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
	// now, before the capabilities go (runc's order). The filter must then
	// allow the few syscalls that follow.
	if plan.Seccomp != nil && !proc.NoNewPrivileges {
		if err := loadSeccomp(plan); err != nil {
			return err
		}
	}
	// Drop privileges in runc's order: bounding set while CAP_SETPCAP is
	// still held; keep permitted caps across setuid; switch user; then set
	// the final effective/permitted/inheritable and ambient sets.
	caps, err := newCapSet(proc.Capabilities)
	if err != nil {
		return err
	}
	if err := caps.dropBounding(); err != nil {
		return err
	}
	// cwd while still root, as runc does: a cwd that root can enter and
	// the user cannot (/root, for uid 1000) works. Refused, it is tried
	// again as the user, who may own a directory root cannot enter (a
	// rootless or NFS volume).
	cwdErr := unix.Fchdir(cwd)
	if cwdErr != nil && !errors.Is(cwdErr, unix.EACCES) && !errors.Is(cwdErr, unix.EPERM) {
		return fmt.Errorf("process.cwd %q: %w", proc.Cwd, os.NewSyscallError("fchdir", cwdErr))
	}
	if err := switchUser(proc); err != nil {
		return err
	}
	if err := caps.apply(); err != nil {
		return err
	}
	if cwdErr != nil {
		if err := unix.Fchdir(cwd); err != nil {
			return fmt.Errorf("process.cwd %q: %w", proc.Cwd, os.NewSyscallError("fchdir", err))
		}
	}
	if proc.NoNewPrivileges {
		if err := linux.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
	}
	// The profile takes effect at execve; it is written inside the container,
	// through its own verified procfs.
	if err := setAppArmorOnExec(proc.ApparmorProfile); err != nil {
		return err
	}
	return nil
}

// enterCgroup waits until the parent has put init in the container's
// cgroup, then unshares the cgroup namespace, so that the container's
// cgroup is the namespace's root. (Only this thread moves to the new
// namespace; it is the one that execs.)
func enterCgroup(s *syncSocket, plan *Plan, cgFDs []int) error {
	if cgFDs != nil {
		if err := joinCgroup(cgFDs, plan.JoinTasks); err != nil {
			return err
		}
	} else if plan.JoinOnRequest && s.send(syncMsg{Type: msgJoin}) != nil {
		return errors.New("init protocol: cannot ask to join the cgroup")
	} else if msg, _, err := s.recv(); err != nil || msg.Type != msgJoined {
		return fmt.Errorf("init protocol: waiting to join the cgroup: %v %q", err, msg.Type)
	}
	if hasNS(plan.Spec, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return os.NewSyscallError("unshare cgroup namespace", err)
		}
	}
	return nil
}

// joinCgroup moves this thread, the one that execs the workload, into the
// container's cgroup in each v1 hierarchy, by writing "0" to the tasks files
// the parent opened: the kernel moves a thread that moves itself without
// its global lock (cgroups/join.go). The other threads of init end at the
// exec. It closes the files; names are their paths, for errors.
func joinCgroup(fds []int, names []string) error {
	defer closeFDs(fds)
	for i, fd := range fds {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			hint := ""
			if errors.Is(err, unix.ENOSPC) && strings.Contains(names[i], "/cpuset/") {
				hint = " (is the cgroup's cpuset.cpus or cpuset.mems empty?)"
			}
			return fmt.Errorf("join cgroup: write %s: %w%s", names[i], err, hint)
		}
	}
	return nil
}

// waitStart blocks until `berth start` (or run) says go: by opening the exec
// FIFO's read end, or with a start message on the socket. With the FIFO, it
// returns the FIFO's write end, still open, for a later error.
func waitStart(s *syncSocket, fifo *os.File) (*os.File, error) {
	if fifo == nil {
		msg, _, err := s.recv()
		if err != nil {
			return nil, fmt.Errorf("wait for start: %w", err)
		}
		if msg.Type != msgStart {
			return nil, fmt.Errorf("init protocol: expected start, got %q", msg.Type)
		}
		return nil, nil
	}
	// Reopen the O_PATH handle for writing: this blocks until a reader opens
	// the FIFO, which is what `berth start` does.
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fifo.Fd()), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	fifo.Close()
	if _, err := w.Write([]byte{0}); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("write exec fifo: %w", err)
	}
	return w, nil
}

func rootfsConfig(plan *Plan) rootfs.Config {
	spec := plan.Spec
	return rootfs.Config{
		Rootfs:        plan.Rootfs,
		BundleDir:     plan.BundleDir,
		Mounts:        spec.Mounts,
		Propagation:   spec.Linux.RootfsPropagation,
		Readonly:      spec.Root.Readonly,
		Devices:       spec.Linux.Devices,
		MaskedPaths:   spec.Linux.MaskedPaths,
		ReadonlyPaths: spec.Linux.ReadonlyPaths,
		CgroupPaths:   plan.CgroupPaths,
		NewCgroupNS:   hasNS(spec, specs.CgroupNamespace),
		InUserNS:      hasNS(spec, specs.UserNamespace) || inUserNS(), // berth itself may run in one (rootless podman)
		NoPivot:       plan.NoPivot,
		Cwd:           spec.Process.Cwd,
		Console:       spec.Process.Terminal,
		SharedMountNS: !hasNS(spec, specs.MountNamespace),
	}
}
