package libcontainer

// The parent's side of a started init, shared by create and exec: waiting
// for "ready" (and serving its requests meanwhile), explaining an init that
// died, undoing a failed create, letting a foreground process exec and
// waiting for it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/rootfs"
)

// awaitReady reads init's messages until it is ready or fails.
func (p *InitProcess) awaitReady(consoleSocket string) error {
	for {
		msg, fds, err := p.sock.recv()
		if msg.Type != msgConsole {
			closeFDs(fds) // only the console carries one
		}
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			return p.initDied() // ECONNRESET: it died with a message unread
		}
		if err != nil {
			return err
		}
		switch msg.Type {
		case msgReady:
			return nil
		case msgJoin:
			if p.cg == nil {
				return errors.New("init protocol: unexpected join message")
			}
			if err := p.attachInit(); err != nil {
				return err
			}
		case msgHooks:
			st := p.Container.ociState(specs.StateCreating)
			if err := runHooks(p.Container.Config.Hooks, st, hookPrestart, hookCreateRuntime); err != nil {
				return err
			}
			if err := p.sock.send(syncMsg{Type: msgHooksDone}); err != nil {
				return err
			}
		case msgError:
			p.cmd.Wait()
			return errors.New(msg.Error)
		case msgConsole:
			if len(fds) != 1 {
				closeFDs(fds)
				return fmt.Errorf("init protocol: console message with %d descriptors, not 1", len(fds))
			}
			master := os.NewFile(uintptr(fds[0]), "pty-master")
			if consoleSocket == "" {
				p.Console = master
				continue
			}
			err := sendConsole(consoleSocket, master)
			master.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("init protocol: unexpected %q message", msg.Type)
		}
	}
}

// initDied explains an init that closed the socket without a word.
func (p *InitProcess) initDied() error {
	err := p.cmd.Wait()
	if err == nil {
		return errors.New("container init exited during setup")
	}
	hint := ""
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		if spec := p.Container.Config; hasMemoryLimit(spec) {
			hint = fmt.Sprintf(" (killed: is linux.resources.memory.limit, %d bytes, too low?)", *spec.Linux.Resources.Memory.Limit)
		}
	} else if ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
		if spec := p.Container.Config; spec.Linux != nil && spec.Linux.Seccomp != nil {
			hint = " (killed by linux.seccomp: the profile refuses a syscall berth makes before exec)"
		}
	}
	return fmt.Errorf("container init exited during setup: %w%s", err, hint)
}

// abort undoes a failed create. Preconditions: lock held.
func (p *InitProcess) abort(cg *cgroups.Manager) {
	if p.sock != nil {
		p.sock.Close()
	}
	p.Container.returnDevices()
	p.kill()
	if err := p.Container.detachNetwork(); err != nil {
		logs.Warn(err)
	}
	cg.Destroy()
	if c := p.Container; c.Config != nil && !hasNS(c.Config, specs.MountNamespace) {
		rootfs.DetachOwnMounts(c.Rootfs, c.RootfsMountBelow) // a container sharing our mount table
	}
	os.RemoveAll(p.Container.dir)
}

// Start lets a foreground init exec the workload (the run path), then runs
// the poststart hooks.
func (p *InitProcess) Start() error {
	var err error
	if !p.noWait {
		err = p.sock.send(syncMsg{Type: msgStart})
	}
	if err == nil {
		// init's end closes on exec (or on failure, after its error message).
		msg, _, rerr := p.sock.recv()
		if rerr == nil && msg.Type == msgError {
			err = errors.New(msg.Error)
		}
	}
	p.sock.Close()
	tracePoint("run:started")
	if err != nil {
		return err
	}
	if !p.exec {
		p.Container.runPoststart()
	}
	if n := p.notify; n != nil {
		// For as long as the workload lives: READY=1, STATUS=, WATCHDOG=1...
		go func() {
			if err := n.forward(p.Pid, false); err != nil {
				logs.Warn(fmt.Errorf("sd_notify: %w", err))
			}
			n.Close()
		}()
	}
	return nil
}

// Wait waits for a foreground workload and returns its exit code, 128+N for
// a death by signal N, as shells report it.
// init is berth's child, or its adopted grandchild when nsenter forked.
func (p *InitProcess) Wait() (int, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, os.NewSyscallError("wait4", err)
		}
		break
	}
	tracePoint("run:exited")
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}
