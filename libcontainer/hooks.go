package libcontainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/nsenter"
)

// Hook points, in the order the runtime spec runs them:
//
//	prestart, createRuntime  berth create, host namespaces, after the mounts,
//	                         before pivot_root (init asks; see sync.go)
//	createContainer          init, container namespaces, before pivot_root
//	startContainer           init, after start, before execve; the path
//	                         resolves inside the container
//	poststart                berth start/run, after the workload started; a
//	                         failure is a warning
//	poststop                 berth delete, after the container is gone; a
//	                         failure is a warning
const (
	hookPrestart        = "prestart"
	hookCreateRuntime   = "createRuntime"
	hookCreateContainer = "createContainer"
	hookStartContainer  = "startContainer"
	hookPoststart       = "poststart"
	hookPoststop        = "poststop"
)

// hooksOf returns the hooks of one point.
func hooksOf(h *specs.Hooks, point string) []specs.Hook {
	if h == nil {
		return nil
	}
	switch point {
	case hookPrestart:
		return h.Prestart //nolint:staticcheck // deprecated in the spec, still honoured
	case hookCreateRuntime:
		return h.CreateRuntime
	case hookCreateContainer:
		return h.CreateContainer
	case hookStartContainer:
		return h.StartContainer
	case hookPoststart:
		return h.Poststart
	case hookPoststop:
		return h.Poststop
	}
	return nil
}

// runHooks runs the hooks of the given points in order, each with the
// container's state as JSON on stdin. It stops at the first failure.
// (warnHooks is the variant for points where a failure is only a warning.)
func runHooks(h *specs.Hooks, state *specs.State, points ...string) error {
	return runHooksEnv(h, state, nil, points...)
}

// runHooksEnv is runHooks where a hook without an env of its own gets env:
// startContainer hooks get the process's (process.env), as in runc 1.5.
func runHooksEnv(h *specs.Hooks, state *specs.State, env []string, points ...string) error {
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for _, point := range points {
		for i, hook := range hooksOf(h, point) {
			if hook.Env == nil {
				hook.Env = env
			}
			if err := runHook(hook, data); err != nil {
				return fmt.Errorf("%s hook #%d (%s): %w", point, i, hook.Path, err)
			}
		}
	}
	return nil
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d is not positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = h.Args
	if len(cmd.Args) == 0 {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := startWithCallerSlack(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && out.Len() > 0 {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
		}
		return err
	}
	return nil
}

// warnHooks runs every hook of point, even after failures, and returns
// them all: for poststart and poststop, where the spec makes a failing hook
// a warning and says the remaining hooks still run.
func warnHooks(h *specs.Hooks, state *specs.State, point string) []error {
	data, err := json.Marshal(state)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i, hook := range hooksOf(h, point) {
		if err := runHook(hook, data); err != nil {
			errs = append(errs, fmt.Errorf("%s hook #%d (%s): %w", point, i, hook.Path, err))
		}
	}
	return errs
}

// ociState is the state handed to hooks.
func (c *Container) ociState(status specs.ContainerState) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: c.ID, Status: status, Pid: c.InitPID,
		Bundle: c.Bundle, Annotations: c.Annotations,
	}
}

// callerTimerSlack is the timer slack of whoever started berth, in ns
// (berth itself runs with 1 ms, nsenter/timerslack.c); init sets it from
// its plan.
var callerTimerSlack = nsenter.CallerTimerSlack()

// startWithCallerSlack starts cmd with the caller's timer slack, not
// berth's: a child inherits the slack of the thread that forks it.
func startWithCallerSlack(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if callerTimerSlack > 0 {
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(callerTimerSlack), 0, 0, 0)
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0)
	}
	return cmd.Start()
}
