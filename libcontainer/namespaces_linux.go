package libcontainer

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsSetup says how init gets its namespaces. When every namespace is new
// (the common case) Go's clone creates them: no extra process, no extra
// message. Joining a namespace by path, or a new time namespace, goes through
// the nsenter constructor (nsenter/nsenter.c) instead.
type nsSetup struct {
	cloneFlags uintptr  // for Go's clone, when nsenter is not used
	env        []string // nsenter's inputs; nil when nsenter is not used
	fork       bool     // nsenter forks: init's PID arrives in a "pid" message
	idMap      bool     // nsenter unshares a user namespace and asks for maps
}

const msgPid, msgIDMap = "pid", "idmap" // sent by nsenter.c, see its header

var nsFlag = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.UserNamespace: unix.CLONE_NEWUSER,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// planNamespaces turns linux.namespaces into an nsSetup. The cgroup
// namespace is left out: init unshares it once it is inside its cgroup, so
// that the container's cgroup becomes the namespace's root.
func planNamespaces(spec *specs.Spec) (nsSetup, error) {
	var ns nsSetup
	var newFlags uintptr
	var joins []specs.LinuxNamespace
	for _, n := range spec.Linux.Namespaces {
		if n.Path != "" {
			if _, err := os.Stat(n.Path); err != nil {
				return ns, fmt.Errorf("linux.namespaces: %s namespace path %s: %w", n.Type, n.Path, unwrapPathErr(err))
			}
			joins = append(joins, n)
			continue
		}
		if n.Type != specs.CgroupNamespace {
			newFlags |= nsFlag[n.Type]
		}
	}
	if len(spec.Linux.TimeOffsets) > 0 && newFlags&unix.CLONE_NEWTIME == 0 {
		return ns, invalid("linux.timeOffsets set without a new time namespace")
	}
	if len(joins) == 0 && newFlags&unix.CLONE_NEWTIME == 0 {
		ns.cloneFlags = newFlags
		return ns, nil
	}
	// nsenter orders the joins: those the caller may join, the user
	// namespace, then those it grants (join_all in nsenter.c).
	var join strings.Builder
	for _, n := range joins {
		fmt.Fprintf(&join, "%d %s\n", nsFlag[n.Type], n.Path)
		if n.Type == specs.PIDNamespace || n.Type == specs.TimeNamespace {
			ns.fork = true
		}
	}
	if newFlags&(unix.CLONE_NEWPID|unix.CLONE_NEWTIME) != 0 {
		ns.fork = true
	}
	ns.idMap = newFlags&unix.CLONE_NEWUSER != 0
	ns.env = []string{
		"_BERTH_NS_JOIN=" + join.String(),
		"_BERTH_NS_NEW=" + strconv.FormatUint(uint64(newFlags), 10),
	}
	if ns.fork {
		ns.env = append(ns.env, "_BERTH_NS_FORK=1")
	}
	if offs := spec.Linux.TimeOffsets; len(offs) > 0 {
		var b strings.Builder
		for clock, off := range offs {
			if clock != "monotonic" && clock != "boottime" {
				return ns, invalid("linux.timeOffsets: unknown clock %q (want monotonic or boottime)", clock)
			}
			fmt.Fprintf(&b, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
		}
		ns.env = append(ns.env, "_BERTH_TIMENS="+b.String())
	}
	return ns, nil
}

// nsenterHandshake serves nsenter's requests until init's PID is known.
// Preconditions: the init command has started with ns.env.
func (p *InitProcess) nsenterHandshake(ns nsSetup, l *specs.Linux) (int, error) {
	pid := p.cmd.Process.Pid
	mapped, forked := !ns.idMap, !ns.fork
	for !mapped || !forked {
		msg, _, err := p.sock.recv()
		if err != nil {
			return 0, p.initDied()
		}
		switch msg.Type {
		case msgIDMap:
			if err := writeIDMaps(p.cmd.Process.Pid, l); err != nil {
				return 0, err
			}
			if err := p.sock.send(syncMsg{Type: msgIDMap}); err != nil {
				return 0, err
			}
			mapped = true
		case msgPid:
			pid, forked = msg.Pid, true
			p.cmd.Wait() // nsenter's first process exits once it has forked
		case msgError:
			p.cmd.Wait()
			return 0, fmt.Errorf("%s", msg.Error)
		default:
			return 0, fmt.Errorf("init protocol: unexpected %q message from nsenter", msg.Type)
		}
	}
	return pid, nil
}

func writeIDMaps(pid int, l *specs.Linux) error {
	format := func(m []specs.LinuxIDMapping) []byte {
		var b strings.Builder
		for _, e := range m {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		return []byte(b.String())
	}
	dir := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(dir+"/uid_map", format(l.UIDMappings), 0); err != nil {
		return fmt.Errorf("linux.uidMappings: %w", unwrapPathErr(err))
	}
	if err := os.WriteFile(dir+"/gid_map", format(l.GIDMappings), 0); err != nil {
		return fmt.Errorf("linux.gidMappings: %w", unwrapPathErr(err))
	}
	return nil
}

// chownForJoinedUserNS gives the exec FIFO to the process user's host ids
// when the container joins a user namespace by path: makeExecFifo could not
// know them (linux.uidMappings is empty then), and init, in that namespace,
// could not reopen a FIFO of host root's (EACCES). pid is init's, already
// in the namespace, so its maps are the namespace's. A nil fifo (run in the
// foreground) needs nothing.
func chownForJoinedUserNS(fifo *os.File, spec *specs.Spec, pid int) error {
	if fifo == nil || nsPath(spec, specs.UserNamespace) == "" {
		return nil
	}
	dir := "/proc/" + strconv.Itoa(pid)
	uids, err := readIDMap(dir + "/uid_map")
	if err != nil {
		return fmt.Errorf("joined user namespace: %w", err)
	}
	gids, err := readIDMap(dir + "/gid_map")
	if err != nil {
		return fmt.Errorf("joined user namespace: %w", err)
	}
	u := spec.Process.User
	uid, gid := hostID(uids, u.UID), hostID(gids, u.GID)
	if err := unix.Fchownat(int(fifo.Fd()), "", int(uid), int(gid), unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("exec fifo: %w", os.NewSyscallError("fchownat", err))
	}
	return nil
}
