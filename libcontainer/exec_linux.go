package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
)

// ExecOpts are the options of `berth exec`. ProcessFile, when set, gives the
// whole process; otherwise the container's own process is the base and the
// other fields override it, as runc does.
type ExecOpts struct {
	Root, ID       string
	ProcessFile    string // --process: a process.json
	Args           []string
	Tty            bool
	Cwd            string
	Env            []string
	User           string // uid[:gid]
	AdditionalGids []string
	Caps           []string
	NoNewPrivs     bool
	AppArmor       string
	ProcessLabel   string
	ConsoleSocket  string
	PidFile        string
	PidfdSocket    string // --pidfd-socket: receives a pidfd of the process (pidfd_linux.go)
	Detach         bool
	PreserveFDs    int
	IgnorePaused   bool
	Cgroups        []string // --cgroup: sub-cgroups of the container's to run in (cgroups.ParseSubCgroups)
	// SignalsCaught: as in CreateOpts.
	SignalsCaught <-chan struct{}
}

// nsProcName is the name of each namespace under /proc/<pid>/ns.
var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// Exec starts a process in a running container: it joins every namespace
// of the container's init (through nsenter), enters its cgroup before running
// any code, and gets the container's security settings unless overridden.
// With Detach the process runs when Exec returns; otherwise the caller
// starts it with Start and waits with Wait.
func Exec(opts ExecOpts) (p *InitProcess, err error) {
	// Before anything is opened: see claimCallerFDs.
	if err := claimCallerFDs(opts.PreserveFDs); err != nil {
		return nil, err
	}
	c, err := Load(opts.Root, opts.ID)
	if err != nil {
		return nil, err
	}
	st := c.Status()
	switch st {
	case specs.StateCreated, specs.StateRunning:
	case StatePaused:
		if !opts.IgnorePaused {
			return nil, fmt.Errorf("%w: %s is paused (resume it, or use --ignore-paused)", ErrNotRunning, opts.ID)
		}
	default:
		return nil, fmt.Errorf("%w: cannot exec in %s: it is %s", ErrNotRunning, opts.ID, st)
	}
	base, err := c.spec()
	if err != nil {
		return nil, err
	}
	proc, err := execProcess(base.Process, opts)
	if err != nil {
		return nil, err
	}
	if hasNS(base, specs.UserNamespace) {
		if err := validateUserMappedIn(c.InitPID, proc.User); err != nil {
			return nil, err
		}
	}
	if proc.Terminal && opts.ConsoleSocket == "" && opts.Detach {
		return nil, fmt.Errorf("exec: --tty with --detach needs --console-socket to receive the terminal")
	}
	if !proc.Terminal && opts.ConsoleSocket != "" {
		return nil, fmt.Errorf("exec: --console-socket given without --tty")
	}
	spec := *base
	spec.Process, spec.Hooks = proc, nil
	filter, listener, err := compileSeccomp(&spec)
	if err != nil {
		return nil, err
	}
	named := map[string]*os.File{}
	if listener != nil {
		defer listener.Close()
		named[fdSeccompListener] = listener
	}
	ns, err := joinAll(&spec, c.InitPID)
	if err != nil {
		return nil, err
	}
	pidfdSock, err := dialPidfdSocket(opts.PidfdSocket)
	if err != nil {
		return nil, err
	}
	defer pidfdSock.Close() // nil-safe; sent and closed by sendPidfd
	p = &InitProcess{Container: c, exec: true, noWait: opts.PidFile == ""}
	defer func() {
		if err != nil {
			p.kill()
			p = nil
		}
	}()
	// The process starts in the container's cgroup v2 directory (on a
	// hybrid host its unified one) and joins the v1 hierarchies itself
	// before it runs anything of the container's: cgroups/join.go.
	var cg *cgroups.Manager
	var cgDir *os.File
	var join []*os.File
	sub, err := cgroups.ParseSubCgroups(opts.Cgroups)
	if err != nil {
		return p, err
	}
	if len(c.CgroupPaths) > 0 {
		if cg, err = cgroups.Load(c.CgroupPaths); err != nil {
			return p, err
		}
		if cgDir, err = cg.CloneDir(sub); err != nil {
			return p, err
		}
		if cgDir != nil {
			defer cgDir.Close()
		}
		if join, err = cg.JoinFiles(sub); err != nil {
			return p, err
		}
		defer closeFiles(join)
	}
	// Into a paused v2 container the process would freeze at the clone,
	// still berth's own binary in the host's namespaces; attached after
	// the spawn it freezes as the read-only clone inside the container's
	// namespaces, as on v1, where the freezer is joined last.
	lateJoin := cgDir != nil && st == StatePaused && cgroups.IsUnified()
	spawnDir := cgDir
	if lateJoin {
		spawnDir = nil
	}
	if _, err := p.spawn(spawnOpts{ns: ns, linux: spec.Linux, preserveFDs: opts.PreserveFDs, named: named, adopt: !opts.Detach, cgroup: spawnDir}); err != nil {
		return p, err
	}
	if !c.initAlive() {
		return p, fmt.Errorf("%w: %s exited while exec joined it", ErrNotRunning, opts.ID)
	}
	if lateJoin {
		if err := cg.Join(p.Pid, sub); err != nil {
			return p, err
		}
	}
	tracePoint("exec:spawned")
	plan := &Plan{
		TimerSlack: callerTimerSlack,
		ID:         opts.ID, Spec: &spec, Exec: true, StartBySocket: true, NoWait: p.noWait, OwnTerminal: opts.ConsoleSocket == "", PreserveFDs: opts.PreserveFDs, Rootfs: c.Rootfs,
		HostPid: p.Pid, Seccomp: filter, State: c.ociState(specs.StateRunning), JoinTasks: namesOf(join),
	}
	if opts.SignalsCaught != nil {
		<-opts.SignalsCaught
	}
	if err := p.sock.sendPlan(plan, fdsOf(join)); err != nil {
		if errors.Is(err, unix.EPIPE) {
			err = p.initDied() // it is gone before reading a word: say how
		}
		return p, err
	}
	if err := p.awaitReady(opts.ConsoleSocket); err != nil {
		return p, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, p.Pid); err != nil {
			return p, err
		}
	}
	if err := sendPidfd(pidfdSock, p.Pid, pidfdExec); err != nil {
		return p, err
	}
	if opts.Detach {
		return p, p.Start()
	}
	return p, nil
}

// joinAll is an nsSetup that joins every namespace the container has,
// through its init's /proc entries. It never falls back to joining none:
// the process would run in the host's namespaces.
func joinAll(spec *specs.Spec, initPID int) (nsSetup, error) {
	joined := *spec.Linux
	joined.Namespaces = nil
	joined.TimeOffsets = nil // the container's time namespace has them already
	for _, n := range spec.Linux.Namespaces {
		joined.Namespaces = append(joined.Namespaces, specs.LinuxNamespace{
			Type: n.Type, Path: "/proc/" + strconv.Itoa(initPID) + "/ns/" + nsProcName[n.Type],
		})
	}
	s := *spec
	s.Linux = &joined
	ns, err := planNamespaces(&s)
	if err == nil && len(joined.Namespaces) > 0 && ns.env == nil {
		err = fmt.Errorf("exec: no namespace of %d to join", initPID)
	}
	return ns, err
}

// execProcess builds the exec'd process from --process or from the
// container's process and the flags.
func execProcess(base *specs.Process, o ExecOpts) (*specs.Process, error) {
	if o.ProcessFile != "" {
		data, err := os.ReadFile(o.ProcessFile)
		if err != nil {
			return nil, fmt.Errorf("--process %s: %w", o.ProcessFile, unwrapPathErr(err))
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", o.ProcessFile, err)
		}
		if err := validateProcess(&p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", o.ProcessFile, err)
		}
		return &p, nil
	}
	if len(o.Args) == 0 {
		return nil, fmt.Errorf("exec: no command given (usage: berth exec <container-id> <command> [args...])")
	}
	p := *base
	p.Args = o.Args
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	p.Env = mergeEnv(base.Env, o.Env)
	if o.User != "" {
		uidS, gidS, hasGid := strings.Cut(o.User, ":")
		uid, err := strconv.ParseUint(uidS, 10, 32)
		if err != nil || uid == unchangedID {
			return nil, fmt.Errorf("exec: --user %q: want a numeric uid[:gid] below 4294967295", o.User)
		}
		p.User.UID = uint32(uid)
		if hasGid {
			gid, err := strconv.ParseUint(gidS, 10, 32)
			if err != nil || gid == unchangedID {
				return nil, fmt.Errorf("exec: --user %q: want a numeric uid[:gid] below 4294967295", o.User)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, g := range o.AdditionalGids {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil || gid == unchangedID {
			return nil, fmt.Errorf("exec: --additional-gids %q: want a numeric gid below 4294967295", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(o.Caps) > 0 {
		caps := &specs.LinuxCapabilities{}
		if base.Capabilities != nil {
			c := *base.Capabilities
			caps = &c
		}
		for _, c := range o.Caps {
			c = strings.ToUpper(c)
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			caps.Bounding = append(caps.Bounding, c)
			caps.Effective = append(caps.Effective, c)
			caps.Permitted = append(caps.Permitted, c)
			if caps.Inheritable != nil { // ambient needs inheritable
				caps.Ambient = append(caps.Ambient, c)
			}
		}
		p.Capabilities = caps
	}
	if o.NoNewPrivs {
		p.NoNewPrivileges = true
	}
	if o.AppArmor != "" {
		p.ApparmorProfile = o.AppArmor
	}
	if o.ProcessLabel != "" {
		p.SelinuxLabel = o.ProcessLabel
	}
	return &p, validateProcess(&p)
}

// mergeEnv returns base with each KEY=value of extra replacing base's KEY.
func mergeEnv(base, extra []string) []string {
	out := append([]string{}, base...)
	for _, e := range extra {
		key, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, b := range out {
			if strings.HasPrefix(b, key+"=") {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}
