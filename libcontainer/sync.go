package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/seccomp"
)

// The init protocol. The parent (create/run/exec) and `berth init` talk over
// a SOCK_SEQPACKET socketpair: one JSON syncMsg per datagram, file
// descriptors attached with SCM_RIGHTS.
//
//	step  from    type        payload          meaning
//	1     parent  plan        Plan, fds: one   everything init needs; with Plan.JoinTasks, the
//	                          tasks file per   cgroup v1 tasks files init's exec thread writes
//	                          v1 hierarchy     "0" to (cgroups/join.go). A plan larger than
//	                                           planInline travels in a memfd instead, attached
//	                                           before the tasks files, with planInFd set
//	1'    init    join        -                with Plan.JoinOnRequest (cgroup v2, memory limit):
//	                                           mounts done, attach me now
//	1''   parent  joined      -                without JoinTasks (cgroup v2): init is in its cgroup
//	                                           (init sets up its mounts meanwhile, and waits for
//	                                           this before step 2)
//	2     init    hooks       -                mounts done: run prestart and createRuntime
//	                                           hooks now (only sent when there are any)
//	2'    parent  hooksDone   -                they succeeded; init goes on to pivot_root
//	3     init    console     fd: pty master   only when process.terminal is true
//	4     init    ready       -                setup done; init now waits for start
//	5     parent  start       -                only with Plan.StartBySocket (run, exec) and
//	                                           without Plan.NoWait: exec now
//	-     init    error       Error            setup failed; init exits 1 and the parent cleans up
//
// Before step 1, when init's namespaces go through nsenter (namespaces_linux.go),
// nsenter.c may send "idmap" (the parent writes the maps and answers "idmap")
// and "pid" (init's PID after nsenter's fork).
//
// Init closes the socket when it execs (CLOEXEC), so the parent reads EOF
// once the workload runs. Any EOF before "ready" means init died.
const (
	msgPlan      = "plan"
	msgConsole   = "console"
	msgReady     = "ready"
	msgStart     = "start"
	msgError     = "error"
	msgJoin      = "join"
	msgJoined    = "joined"
	msgHooks     = "hooks"
	msgHooksDone = "hooksDone"
)

type syncMsg struct {
	Type string `json:"type"`
	// Plan is an encoded *Plan: init decodes it with decodePlan (initspec.go).
	Plan json.RawMessage `json:"plan,omitempty"`
	// PlanInFD: the plan is in the memfd attached first (sendPlan).
	PlanInFD bool   `json:"planInFd,omitempty"`
	Error    string `json:"error,omitempty"`
	Pid      int    `json:"pid,omitempty"`
}

// Plan is the spec plus what the parent resolved on the host side: what
// `berth init` needs and cannot (or must not) find out itself.
type Plan struct {
	ID   string      `json:"id"`
	Spec *specs.Spec `json:"spec"`
	// RawSpec, when set, is Spec already encoded (Bundle.Raw), sent as is.
	RawSpec       json.RawMessage   `json:"-"`
	Rootfs        string            `json:"rootfs"`
	BundleDir     string            `json:"bundleDir"`
	CgroupPaths   map[string]string `json:"cgroupPaths,omitempty"`
	NoPivot       bool              `json:"noPivot,omitempty"`
	NoNewKeyring  bool              `json:"noNewKeyring,omitempty"`
	StartBySocket bool              `json:"startBySocket,omitempty"`
	// OwnTerminal: berth keeps the terminal's master itself (a foreground
	// run or exec, no --console-socket): init clears ONLCR on it before the
	// workload can write, as runc does on a terminal it receives.
	OwnTerminal bool `json:"ownTerminal,omitempty"`
	// NoWait: exec right after "ready", without waiting for "start" (run
	// and exec when nothing, such as a pid file, must exist first).
	NoWait      bool `json:"noWait,omitempty"`
	PreserveFDs int  `json:"preserveFds,omitempty"`
	// Exec is a process for an existing container: no rootfs, no hooks.
	Exec bool `json:"exec,omitempty"`
	// HostPid is the process's PID on the host (for the seccomp listener).
	HostPid int `json:"hostPid"`
	// Seccomp is linux.seccomp, compiled by the parent.
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// JoinTasks, when set, are the cgroup v1 tasks files whose descriptors
	// come with the plan, in order: init joins its cgroup itself through
	// them instead of waiting for "joined".
	JoinTasks []string `json:"joinTasks,omitempty"`
	// JoinOnRequest: init sends "join" when its mounts are made and the
	// parent attaches it then (cgroup v2 under a memory limit).
	JoinOnRequest bool `json:"joinOnRequest,omitempty"`
	// TimerSlack is the timer slack of berth's caller, in ns, for the
	// workload: berth's own processes run with 1 ms (nsenter/timerslack.c).
	TimerSlack int64 `json:"timerSlack,omitempty"`
	// State is the container's state as hooks run in init see it.
	State *specs.State `json:"state"`
	// Idmapped and BindSources are the mount indices of the detached
	// mounts sent after the cgroup descriptors, in that order: idmapped
	// mounts (idmap_linux.go) and bind-source clones (bindsrc_linux.go).
	Idmapped    []int `json:"idmapped,omitempty"`
	BindSources []int `json:"bindSources,omitempty"`
}

// planMsg is the plan message for p.
func planMsg(p *Plan) (syncMsg, error) {
	var v any = p
	if p.RawSpec != nil {
		// The outer field hides the embedded plan's "spec".
		v = struct {
			*Plan
			Spec json.RawMessage `json:"spec"`
		}{p, p.RawSpec}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return syncMsg{}, fmt.Errorf("encode plan: %w", err)
	}
	return syncMsg{Type: msgPlan, Plan: data}, nil
}

// planInline is the largest plan sent inside its datagram. A larger one
// (megabytes of annotations) goes through a memfd: the kernel wants a
// datagram in one piece of memory and fails a few MB with ENOBUFS.
const planInline = 256 << 10

// sendPlan sends the plan message for p, with fds (the cgroup v1 tasks
// files) attached.
func (s *syncSocket) sendPlan(p *Plan, fds []int) error {
	msg, err := planMsg(p)
	if err != nil {
		return err
	}
	if len(msg.Plan) <= planInline {
		return s.send(msg, fds...)
	}
	mfd, err := planMemfd(msg.Plan)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return s.send(syncMsg{Type: msgPlan, PlanInFD: true}, append([]int{mfd}, fds...)...)
}

// planMemfd returns a sealed memfd holding data.
func planMemfd(data []byte) (int, error) {
	fd, err := unix.MemfdCreate("berth-plan", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	for off := 0; off < len(data); {
		n, err := unix.Write(fd, data[off:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write plan: %w", os.NewSyscallError("write", err))
		}
		off += n
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("seal plan", err)
	}
	return fd, nil
}

// planPayload is init's side of sendPlan: the encoded plan of msg, and the
// descriptors that came with it, less the memfd if the plan was in one.
func planPayload(msg syncMsg, fds []int) ([]byte, []int, error) {
	if !msg.PlanInFD {
		return msg.Plan, fds, nil
	}
	if len(fds) == 0 {
		return nil, fds, errors.New("init protocol: plan in a memfd, but no descriptor came")
	}
	f := os.NewFile(uintptr(fds[0]), "berth-plan")
	defer f.Close()
	// From offset 0: the parent's writes left the shared offset at the end.
	fi, err := f.Stat()
	if err != nil {
		return nil, fds[1:], fmt.Errorf("read plan: %w", err)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fds[1:], fmt.Errorf("read plan: %w", err)
	}
	return data, fds[1:], nil
}

// maxMsg bounds one datagram; the socket buffers are raised to match so a
// large spec (a long seccomp profile) fits in one plan message.
const maxMsg = 4 << 20

type syncSocket struct{ f *os.File }

func newSyncPair() (parent, child *syncSocket, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxMsg)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, maxMsg)
	}
	return &syncSocket{os.NewFile(uintptr(fds[0]), "init-sock-parent")},
		&syncSocket{os.NewFile(uintptr(fds[1]), "init-sock-child")}, nil
}

func (s *syncSocket) Close() error { return s.f.Close() }

// maxFDs bounds the descriptors one message carries: a pty master, or
// one cgroup v1 tasks file per hierarchy.
const maxFDs = 32

// send writes one message, with the fds attached.
func (s *syncSocket) send(m syncMsg, fds ...int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	var oob []byte
	if len(fds) > maxFDs {
		return fmt.Errorf("send %s message: %d descriptors, at most %d", m.Type, len(fds), maxFDs)
	}
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err = unix.Sendmsg(int(s.f.Fd()), data, oob, nil, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, os.NewSyscallError("sendmsg", err))
	}
	return nil
}

// recv reads one message and the fds attached to it (close-on-exec). It
// returns io.EOF when the peer has closed its end.
func (s *syncSocket) recv() (syncMsg, []int, error) {
	var m syncMsg
	// Peek with MSG_TRUNC for the datagram's real size, then read it whole.
	size, _, err := s.recvmsg(nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return m, nil, err
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4*maxFDs))
	n, oobn, err := s.recvmsg(buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return m, nil, err
	}
	if n == 0 {
		return m, nil, io.EOF
	}
	var fds []int
	if oobn > 0 {
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for i := range cmsgs {
				if got, err := unix.ParseUnixRights(&cmsgs[i]); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeFDs(fds)
		return m, nil, fmt.Errorf("decode init message: %w", err)
	}
	return m, fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func (s *syncSocket) recvmsg(buf, oob []byte, flags int) (n, oobn int, err error) {
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(s.f.Fd()), buf, oob, flags)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	return n, oobn, os.NewSyscallError("recvmsg", err)
}
