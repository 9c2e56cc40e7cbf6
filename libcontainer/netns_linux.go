package libcontainer

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// A new network namespace costs ~0.4 ms to create, the largest part of
// clone's work by far. When init would get one from clone, the parent makes
// it instead, on a spare thread while it records the container and makes
// its cgroup, and init enters it first thing (setns on the thread that
// execs, before loopback, mounts or hooks). Not with a new user namespace:
// the network namespace must then belong to the container's.

const fdNetNS = "_BERTH_FD_NETNS" // the network namespace made for init (fds.go)

type netnsResult struct {
	f   *os.File
	err error
}

// startNetNS starts making the network namespace clone would make for ns,
// and takes CLONE_NEWNET out of ns. It returns nil when it does not apply.
func startNetNS(ns *nsSetup) chan netnsResult {
	if ns.env != nil || ns.cloneFlags&unix.CLONE_NEWNET == 0 || ns.cloneFlags&unix.CLONE_NEWUSER != 0 {
		return nil
	}
	ns.cloneFlags &^= unix.CLONE_NEWNET
	done := make(chan netnsResult, 1)
	go func() {
		// The thread is left locked: it ends with the goroutine, in the
		// namespace it made, and no other goroutine ever runs on it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- netnsResult{err: fmt.Errorf("new network namespace: %w", os.NewSyscallError("unshare", err))}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		done <- netnsResult{f: f, err: err}
	}()
	return done
}

// closeNetNS drops a namespace init never got.
func closeNetNS(pending chan netnsResult) {
	if pending != nil {
		if r := <-pending; r.f != nil {
			r.f.Close()
		}
	}
}

// enterNetNS is init's side: it moves this thread, the one that execs, into
// the network namespace the parent made, if it did.
func enterNetNS() error {
	f, err := inheritedFD(fdNetNS)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter the network namespace: %w", os.NewSyscallError("setns", err))
	}
	return nil
}
