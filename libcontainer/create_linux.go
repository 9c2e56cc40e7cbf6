package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/internal/linux"
	"github.com/berth-project/berth/network"
	"github.com/berth-project/berth/rootfs"
	"github.com/berth-project/berth/seccomp"
)

// CreateOpts are the options of `create` and `run`.
type CreateOpts struct {
	Root, ID, Bundle string
	PidFile          string
	ConsoleSocket    string
	PidfdSocket      string // --pidfd-socket: receives a pidfd of init (pidfd_linux.go)
	NoPivot          bool
	NoNewKeyring     bool
	PreserveFDs      int
	// ListenFDs are systemd's socket-activation fds, passed on before the
	// preserved ones, with LISTEN_FDS and LISTEN_PID=1 set for the workload.
	ListenFDs int
	// Foreground is `run` without --detach: the workload starts as soon as
	// it is ready (no exec FIFO), stays berth's child, and a terminal is
	// handed back to the caller instead of a console socket.
	Foreground bool
	// SystemdCgroup is --systemd-cgroup: the cgroup is a systemd scope.
	SystemdCgroup bool
	// SignalsCaught, when set, is closed once the caller catches the signals
	// it forwards: the workload must not run before.
	SignalsCaught <-chan struct{}
	// Stdout and Stderr, when set, replace berth's own as the workload's
	// (a foreground run under systemd relays them: run.go).
	Stdout, Stderr *os.File
	// Network and Publish are --network and --publish (network/): empty,
	// the config's namespaces decide.
	Network string
	Publish []string
}

// InitProcess is a container whose init is set up and waiting for start.
type InitProcess struct {
	Container *Container
	Pid       int              // host PID of the process that becomes the workload
	Console   *os.File         // pty master, in the foreground with process.terminal
	exec      bool             // an exec'd process, not the container's init
	noWait    bool             // init execs after "ready" without a "start" (Plan.NoWait)
	cg        *cgroups.Manager // the container's cgroup, for a "join" request (create only)
	cmd       *exec.Cmd
	sock      *syncSocket
	notify    *notifyListener // in the foreground under systemd's NOTIFY_SOCKET
}

// Create sets a container up from its bundle and leaves its init waiting for
// `start`. On any error it removes everything it made: the init process,
// the cgroup and the state directory.
func Create(opts CreateOpts) (p *InitProcess, err error) {
	tracePoint("create:begin")
	cr, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if cr.listener != nil {
		defer cr.listener.Close()
	}
	pidfdSock, err := dialPidfdSocket(opts.PidfdSocket)
	if err != nil {
		return nil, err
	}
	defer pidfdSock.Close() // nil-safe; sent and closed by sendPidfd
	cr.netns = startNetNS(&cr.ns)
	c, err := createDir(opts.Root, opts.ID)
	if err != nil {
		closeNetNS(cr.netns)
		return nil, err
	}
	defer c.Unlock()
	// Once the ID is ours (another container's cgroup is "already exists"),
	// before anything is made: a cgroup that is busy or frozen is the
	// user's, and is left as it is (no abort, which would remove it).
	if err := cr.cg.CheckFresh(); err != nil {
		closeNetNS(cr.netns)
		os.RemoveAll(c.dir)
		return nil, err
	}
	// In the foreground nothing needs to happen between ready and start
	// unless a pid file is to exist first: save the round trip.
	p = &InitProcess{Container: c, noWait: opts.Foreground && opts.PidFile == "" && cr.net == nil}
	defer func() {
		if err != nil {
			if cr.netAdded != nil {
				<-cr.netAdded // never tear down under an ADD still at work
			}
			closeNetNS(cr.netns)
			p.notify.Close()
			p.abort(cr.cg)
			p = nil
		}
	}()
	if cr.notifyHost != "" {
		// The directory init binds in; in the foreground the socket too,
		// before the workload can run: it may notify at once (otherwise
		// `start` binds it).
		if err := makeNotifyDir(c.dir); err != nil {
			return p, err
		}
		if opts.Foreground {
			if p.notify, err = listenNotify(c.dir, cr.notifyHost); err != nil {
				return p, err
			}
		}
	}
	b := cr.bundle
	c.State = State{
		OCIVersion: specs.Version, ID: opts.ID, Bundle: b.Path, Rootfs: b.Rootfs,
		Created: time.Now().UTC(), Annotations: b.Spec.Annotations, Creating: true,
		CgroupPaths: cr.cg.Paths(), SystemdUnit: cr.cg.SystemdUnit(), Config: b.Spec, RawConfig: b.Raw, NotifySocket: cr.notifyHost,
	}
	if !hasNS(b.Spec, specs.MountNamespace) {
		if c.RootfsMountBelow, err = rootfs.MountBelow(b.Rootfs); err != nil {
			return p, fmt.Errorf("root.path: %w", err)
		}
	}
	if err := recordNetwork(c, cr); err != nil {
		return p, err
	}
	// Recorded before anything is made, so that a create killed at any later
	// point leaves enough behind for `delete --force` to undo it.
	if err := c.save(); err != nil {
		return p, err
	}
	if cr.net != nil && !cr.netLate {
		if err := setupNetwork(cr, nil); err != nil {
			return p, err
		}
	}
	// On a hybrid host init starts in its unified-hierarchy cgroup, which
	// has no controllers; the v1 hierarchies it joins itself (launch). The
	// directory is made first: Prepare's mkdirs would hold it up.
	if cr.unified = cr.cg.HybridCloneDir(); cr.unified != nil {
		defer cr.unified.Close()
	}
	// The cgroup is made and limited while init starts (the ID is ours now:
	// no other container's cgroup can be touched by this).
	cgReady := make(chan error, 1)
	go func() {
		err := cr.cg.Prepare()
		tracePoint("create:cgroup-prepared")
		cgReady <- err
	}()
	defer func() {
		if err != nil {
			<-cgReady // never tear down under a Prepare still at work
		}
	}()
	tracePoint("create:state-saved")
	if err := p.launch(cr, cgReady); err != nil {
		return p, err
	}
	tracePoint("create:ready")
	if err := p.finishNetwork(cr); err != nil {
		return p, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, c.InitPID); err != nil {
			return p, err
		}
	}
	if err := sendPidfd(pidfdSock, c.InitPID, pidfdInit); err != nil {
		return p, err
	}
	c.Creating = false
	if err := c.save(); err != nil {
		return p, err
	}
	if !opts.Foreground {
		p.sock.Close()
	}
	return p, nil
}

// creation is what Create resolves and checks before it makes anything, so
// that bad input leaves nothing behind.
type creation struct {
	opts     CreateOpts
	bundle   *Bundle
	ns       nsSetup
	filter   *seccomp.Program
	listener *os.File // the seccomp agent's socket, when the profile notifies
	cg       *cgroups.Manager
	unified  *os.File            // the hybrid host's unified cgroup to start init in, or nil
	netns    chan netnsResult    // the network namespace made for init (netns_linux.go), or nil
	net      *network.Attachment // --network's CNI attachment (network_linux.go), or nil
	slirp    *network.Slirp      // a rootless --network bridge (rootless_net_linux.go), or nil
	// netLate: init's user namespace must own the network namespace, so
	// clone makes it and the attachment follows the spawn.
	netLate  bool
	netAdded chan error // ADD at work (network_linux.go), until Create waits for it
	// devicesMoved: linux.netDevices went into the namespace made here
	// (otherwise they go once init is in its own, netdev_linux.go).
	devicesMoved bool
	// notifyHost is systemd's NOTIFY_SOCKET: the container gets its own
	// (notify_linux.go).
	notifyHost string
}

func resolve(opts CreateOpts) (*creation, error) {
	// Before anything is opened: see claimCallerFDs.
	if err := claimCallerFDs(opts.ListenFDs + opts.PreserveFDs); err != nil {
		return nil, err
	}
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	b, err := LoadBundle(opts.Bundle)
	if err != nil {
		return nil, err
	}
	tracePoint("create:bundle-loaded")
	if opts.ListenFDs > 0 {
		b.Spec.Process.Env = mergeEnv(b.Spec.Process.Env, []string{"LISTEN_FDS=" + strconv.Itoa(opts.ListenFDs), "LISTEN_PID=1"})
		b.Raw = nil
		opts.PreserveFDs += opts.ListenFDs
	}
	if err := checkTerminal(b.Spec, opts); err != nil {
		return nil, err
	}
	cr := &creation{opts: opts, bundle: b}
	if err := resolveNetwork(cr); err != nil {
		return nil, err
	}
	if cr.notifyHost = hostNotifySocket(); cr.notifyHost != "" && b.Spec.Process != nil {
		root, err := filepath.Abs(opts.Root)
		if err != nil {
			return nil, fmt.Errorf("state root: %w", err)
		}
		addNotifyMount(b.Spec, filepath.Join(root, opts.ID))
		b.Raw = nil
	}
	if err := checkRootless(b); err != nil {
		return nil, err
	}
	planned := b.Spec
	if cr.net != nil && !cr.netLate {
		planned = withoutNetNS(b.Spec) // made by the parent (network_linux.go)
	}
	if cr.ns, err = planNamespaces(planned); err != nil {
		return nil, err
	}
	if err := checkNetDevices(b.Spec); err != nil {
		return nil, err
	}
	l := b.Spec.Linux
	if cr.cg, err = cgroups.New(cgroups.Config{ID: opts.ID, Path: l.CgroupsPath, Resources: l.Resources, Devices: l.Devices, Systemd: opts.SystemdCgroup}); err != nil {
		return nil, err
	}
	if err := rootlessCgroup(cr.cg); err != nil {
		return nil, err
	}
	if cr.filter, cr.listener, err = compileSeccomp(b.Spec); err != nil {
		return nil, err
	}
	tracePoint("create:resolved")
	return cr, nil
}

// launch starts init and takes it to ready: spawn, plan, cgroup.
// Preconditions: lock held; cgReady delivers the cgroup's Prepare result.
func (p *InitProcess) launch(cr *creation, cgReady chan error) error {
	c, spec, opts := p.Container, cr.bundle.Spec, cr.opts
	p.cg = cr.cg
	named := map[string]*os.File{}
	if cr.listener != nil {
		named[fdSeccompListener] = cr.listener
	}
	var fifo *os.File
	if !opts.Foreground {
		var err error
		if fifo, err = makeExecFifo(c.dir, spec); err != nil {
			return err
		}
		defer fifo.Close()
		named[fdExecFifo] = fifo
	}
	if cr.netns != nil {
		r := <-cr.netns
		cr.netns = nil
		if r.err != nil {
			return r.err
		}
		defer r.f.Close()
		named[fdNetNS] = r.f
		// Into the namespace before init can see it (netdev_linux.go).
		if err := network.MoveDevices(c.NetDevices, r.f); err != nil {
			return err
		}
		cr.devicesMoved = true
	}
	var err error
	if c.InitPID, err = p.spawn(spawnOpts{
		ns: cr.ns, linux: spec.Linux, preserveFDs: opts.PreserveFDs, named: named, adopt: opts.Foreground,
		cgroup: cr.unified, stdout: opts.Stdout, stderr: opts.Stderr,
	}); err != nil {
		return err
	}
	tracePoint("create:spawned")
	if err := startSlirp(cr, c); err != nil {
		return err
	}
	if cr.net != nil && cr.netLate {
		if err := setupNetwork(cr, &c.InitPID); err != nil {
			return err
		}
	}
	if err := chownForJoinedUserNS(fifo, spec, c.InitPID); err != nil {
		return err
	}
	// The cgroup's directories must exist before init mounts them.
	cgErr := <-cgReady
	cgReady <- cgErr // for Create's deferred wait
	if cgErr != nil {
		return cgErr
	}
	// systemd makes a scope with its first process in it: init, at once,
	// since it bind-mounts the scope's directory (--systemd-cgroup).
	if cr.cg.SystemdUnit() != "" {
		if err := cr.cg.Join(c.InitPID, nil); err != nil {
			return err
		}
	}
	// On cgroup v1 init joins by itself, after its mounts (so that its own
	// start is not charged to the container), through the tasks files sent
	// with the plan: no wait on the kernel (cgroups/join.go).
	join, err := cr.cg.JoinFiles(nil)
	if err != nil {
		return err
	}
	defer closeFiles(join)
	// The plan goes next, so that init starts on its mounts at once. It
	// cannot get further than that without this process: on v2 it needs
	// "joined" below, and it exits when the socket closes.
	plan := &Plan{
		TimerSlack: callerTimerSlack,
		ID:         opts.ID, Spec: spec, RawSpec: cr.bundle.Raw, Rootfs: cr.bundle.Rootfs, BundleDir: cr.bundle.Path, CgroupPaths: cr.cg.ViewPaths(),
		NoPivot: opts.NoPivot, NoNewKeyring: opts.NoNewKeyring, StartBySocket: opts.Foreground, NoWait: p.noWait, OwnTerminal: opts.ConsoleSocket == "",
		PreserveFDs: opts.PreserveFDs, State: c.ociState(specs.StateCreating),
		HostPid: c.InitPID, Seccomp: cr.filter, JoinTasks: namesOf(join),
		// cgroup v2 charges kernel memory too: under a memory limit, init
		// asks to be attached only once its mounts are made, so that they
		// are not the container's to pay (a container runs `true` under a
		// 1 MiB limit); the attach's RCU wait is then not overlapped.
		JoinOnRequest: join == nil && hasMemoryLimit(spec),
	}
	if opts.SignalsCaught != nil {
		<-opts.SignalsCaught // init may exec without a "start" (NoWait)
	}
	idmapped, idx, err := openIdmappedMounts(spec, cr.bundle.Path, c.InitPID)
	if err != nil {
		return err
	}
	defer closeFiles(idmapped) // init has its own copies once the plan is sent
	plan.Idmapped = idx
	fds := append(fdsOf(join), fdsOf(idmapped)...)
	if wantsBindSources(spec) {
		srcs, idx := openBindSources(spec, cr.bundle.Path, cr.bundle.Rootfs, c.InitPID)
		defer closeFiles(srcs)
		plan.BindSources, fds = idx, append(fds, fdsOf(srcs)...)
	}
	if err := p.sock.sendPlan(plan, fds); err != nil {
		if errors.Is(err, unix.EPIPE) {
			err = p.initDied() // it is gone before reading a word: say how
		}
		return err
	}
	tracePoint("create:plan-sent")
	if c.InitStart, _, err = procStat(c.InitPID); err != nil {
		return fmt.Errorf("init process: %w", err)
	}
	if err := c.save(); err != nil {
		return err
	}
	if plan.JoinTasks == nil && !plan.JoinOnRequest {
		// cgroup v2 without a memory limit: init sets up its mounts
		// meanwhile; it waits for "joined" before it unshares its cgroup
		// namespace, runs hooks, or reports ready, so no code of the
		// container's runs outside the cgroup. The attach waits for an RCU
		// grace period, in parallel.
		if err := p.attachInit(); err != nil {
			return err
		}
	}
	return p.awaitReady(opts.ConsoleSocket)
}

// attachInit attaches init to its cgroup from here (cgroup v2) and tells
// it. A send error means init has failed already: its error message is
// waiting on the socket, and awaitReady reads it.
func (p *InitProcess) attachInit() error {
	if err := p.cg.Join(p.Container.InitPID, nil); err != nil {
		return err
	}
	p.sock.send(syncMsg{Type: msgJoined})
	tracePoint("create:cgroup-joined")
	return nil
}

func hasMemoryLimit(spec *specs.Spec) bool {
	r := spec.Linux.Resources
	return r != nil && r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func namesOf(files []*os.File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	return names
}

func fdsOf(files []*os.File) []int {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	return fds
}

func checkTerminal(spec *specs.Spec, opts CreateOpts) error {
	switch {
	case spec.Process.Terminal && opts.ConsoleSocket == "" && !opts.Foreground:
		return errors.New("process.terminal is true: --console-socket is required to receive the terminal (or set terminal to false)")
	case !spec.Process.Terminal && opts.ConsoleSocket != "":
		return errors.New("--console-socket given but process.terminal is false")
	}
	return nil
}

// makeExecFifo creates <dir>/exec.fifo and returns an O_PATH handle on it
// for init, which reopens it for writing through /proc/self/fd. Init does
// that as the process's final user, so the FIFO belongs to that user's host
// uid and gid (0600: nobody else may start the container).
func makeExecFifo(dir string, spec *specs.Spec) (*os.File, error) {
	path := filepath.Join(dir, execFifo)
	if err := linux.Mkfifo(path, 0o600); err != nil {
		return nil, err
	}
	u := spec.Process.User
	uid, gid := hostID(spec.Linux.UIDMappings, u.UID), hostID(spec.Linux.GIDMappings, u.GID)
	if unprivileged() && (int(uid) != os.Geteuid() || int(gid) != os.Getegid()) {
		// A user cannot give the FIFO to its subordinate ids: writable by
		// all instead, as runc's always is. Only init reaches it, through
		// its descriptor: the state root is the user's, 0700.
		if err := os.Chmod(path, 0o622); err != nil {
			return nil, fmt.Errorf("exec fifo: %w", err)
		}
	} else if err := os.Chown(path, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	return f, nil
}

// writePidFile writes pid atomically, so a reader never sees a partial one.
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644, false)
}

// sendConsole passes the pty master to the --console-socket listener with
// SCM_RIGHTS, as runc does (the receiver gets one fd and its name).
func sendConsole(socketPath string, master *os.File) error {
	conn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(conn)
	if err := unix.Connect(conn, &unix.SockaddrUnix{Name: socketPath}); err != nil {
		return fmt.Errorf("--console-socket %s: %w", socketPath, err)
	}
	if err := unix.Sendmsg(conn, []byte(master.Name()), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("--console-socket %s: send terminal: %w", socketPath, err)
	}
	return nil
}

// hostID maps a container uid or gid to the host's through a user
// namespace's mappings (the identity without them).
func hostID(maps []specs.LinuxIDMapping, id uint32) uint32 {
	if len(maps) == 0 {
		return id
	}
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID
		}
	}
	return 65534 // unmapped: the overflow id, which init cannot be anyway
}
