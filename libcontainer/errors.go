package libcontainer

import "errors"

// Sentinel errors. Callers test them with errors.Is; messages that reach the
// user wrap them with the container ID or the offending field.
var (
	ErrInvalidID    = errors.New("invalid container id")
	ErrExist        = errors.New("container already exists")
	ErrNotExist     = errors.New("container does not exist")
	ErrNotCreated   = errors.New("container is not in the created state")
	ErrNotStopped   = errors.New("container is not stopped")
	ErrNotRunning   = errors.New("container not running") // runc's text: containerd's shim matches it
	ErrInvalidSpec  = errors.New("invalid configuration")
	ErrLocked       = errors.New("container is being modified by another berth process")
	ErrCorruptState = errors.New("container state is unreadable")
	ErrUntrusted    = errors.New("refusing to trust container state")
)
