package libcontainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/seccomp"
)

// fdSeccompListener is the socket connected to linux.seccomp.listenerPath,
// opened by the parent (the path is on the host) and used by init.
const fdSeccompListener = "_BERTH_FD_SECCOMP_LISTENER"

// compileSeccomp compiles the spec's profile, and connects to its listener
// when it has NOTIFY rules. Called before anything is created, so a bad
// profile leaves nothing behind.
func compileSeccomp(spec *specs.Spec) (*seccomp.Program, *os.File, error) {
	s := spec.Linux.Seccomp
	if s == nil {
		return nil, nil, nil
	}
	prog, err := cachedProgram(s)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	if !prog.Notify {
		return prog, nil, nil
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: s.ListenerPath}); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("linux.seccomp.listenerPath %s: %w", s.ListenerPath, err)
	}
	return prog, os.NewFile(uintptr(fd), "seccomp-listener"), nil
}

// loadSeccomp installs the plan's filter and hands a notify fd to the
// listener with the container's state, as the runtime spec describes.
//
// Everything the hand-over needs is made before the filter goes on: from
// then until the agent holds the notify fd, a syscall the profile notifies
// (fcntl, close, read, even mmap) would wait for an answer that cannot come
// (runc issue 4328). Between Load and sendmsg there is no other syscall, and
// no allocation that could ask the kernel for memory.
func loadSeccomp(plan *Plan) error {
	if plan.Seccomp.KillThread {
		guardThread()
	}
	if !plan.Seccomp.Notify {
		if _, err := plan.Seccomp.Load(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
		return nil
	}
	listener, err := inheritedFD(fdSeccompListener)
	if err != nil || listener == nil {
		return errors.New("seccomp notify: no listener socket")
	}
	defer listener.Close()
	lfd := int(listener.Fd())
	st := specs.ContainerProcessState{
		Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: plan.HostPid,
		Metadata: plan.Spec.Linux.Seccomp.ListenerMetadata,
	}
	if plan.State != nil {
		st.State = *plan.State
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	rights := unix.UnixRights(0) // the notify fd's number goes in after Load
	fd, err := plan.Seccomp.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	defer unix.Close(fd)
	binary.NativeEndian.PutUint32(rights[unix.CmsgLen(0):], uint32(fd))
	if err := unix.Sendmsg(lfd, data, rights, nil, 0); err != nil {
		return fmt.Errorf("seccomp notify: send to listener: %w", err)
	}
	return nil
}

// killProg is a filter that kills the process at its next syscall.
var (
	killInsn = unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_KILL_PROCESS}
	killProg = unix.SockFprog{Len: 1, Filter: &killInsn}
)

// threadAlive is this thread's id until the kernel clears it (and wakes its
// futex) as the thread exits: set_tid_address's clear_child_tid.
var threadAlive uint32

// guardThread: a filter whose action kills only the calling thread (the
// default SCMP_ACT_KILL is one) kills init's thread when init makes a syscall
// the profile refuses before exec. The Go runtime's other threads would then
// keep init alive, doing nothing, and the parent would wait for it forever.
// So another thread waits for this one's end (its clear_child_tid futex),
// and then kills the whole process with SIGSYS, as SCMP_ACT_KILL_PROCESS
// would have: the parent sees init die, by the signal that says why. At
// execve the other threads are gone first, so a workload is never touched.
func guardThread() {
	tid := unix.Gettid()
	atomic.StoreUint32(&threadAlive, uint32(tid))
	unix.RawSyscall(unix.SYS_SET_TID_ADDRESS, uintptr(unsafe.Pointer(&threadAlive)), 0, 0)
	// The watcher must be running on its own thread before the filter goes
	// on: once this thread is dead, nothing would schedule it.
	// A second P: exec is a raw syscall, so a thread killed there keeps
	// init's only P (GOMAXPROCS=1) for good, and the watcher needs one to
	// run again after its futex wait.
	runtime.GOMAXPROCS(2)
	running := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(running)
		// Raw syscalls only, and no allocation, from here: once init's
		// thread is dead holding its P, the runtime can never stop the
		// world again, so this goroutine must never need it to.
		for atomic.LoadUint32(&threadAlive) != 0 {
			// A shared futex: the kernel's wake at thread exit is one.
			unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&threadAlive)), 0 /* FUTEX_WAIT */, uintptr(tid), 0, 0, 0)
		}
		// Init is PID 1 of its namespace, deaf to a signal it sends
		// itself: kill the process the way the kernel does, by a filter
		// on this thread that kills the process at its next syscall.
		unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
		unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&killProg)))
		unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	}()
	<-running
}
