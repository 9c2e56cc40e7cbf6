package libcontainer

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berth-project/berth/cgroups"
	"github.com/berth-project/berth/internal/logs"
)

// Rootless mode: berth run by an ordinary user (docs/rootless.md). The
// caller's euid decides what berth may do on the host; the global
// --rootless flag (runc's meaning) only decides whether cgroup permission
// errors are tolerated.

var rootlessMode = "auto"

// SetRootlessMode takes the --rootless flag: "true", "false" or "auto".
func SetRootlessMode(mode string) error {
	switch mode {
	case "true", "false", "auto":
		rootlessMode = mode
		return nil
	}
	return fmt.Errorf("--rootless %q: must be true, false or auto", mode)
}

// unprivileged reports whether berth runs as an ordinary user: no
// capabilities on the host, a user namespace for every container.
func unprivileged() bool { return os.Geteuid() != 0 }

// rootlessCgroups reports whether a cgroup berth cannot create or write is
// tolerated (the container then runs without limits), as runc's --rootless.
func rootlessCgroups() bool {
	switch rootlessMode {
	case "true":
		return true
	case "false":
		return false
	}
	return unprivileged() || inUserNS()
}

// inUserNS reports whether berth runs in a user namespace other than the
// host's (rootless podman runs its runtime as root of one): root there
// has no say over the host's cgroups.
func inUserNS() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// DefaultRoot is the state root when --root is not given: /run/berth for
// root (in a user namespace, with XDG_RUNTIME_DIR set and USER not root:
// that dir, as runc); for another user $XDG_RUNTIME_DIR/berth, or else /tmp/berth-<uid>
// (created 0700 by the first create, and refused unless the user owns it:
// statetrust_linux.go).
func DefaultRoot() string {
	if !unprivileged() {
		// Root of a user namespace that a user made (rootless podman's)
		// keeps its state in that user's runtime dir, as runc does.
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && os.Getenv("USER") != "root" && inUserNS() {
			return dir + "/berth"
		}
		return "/run/berth"
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return dir + "/berth"
	}
	return fmt.Sprintf("%s/berth-%d", os.TempDir(), os.Geteuid())
}

// rootlessNote prefixes a refusal that an unprivileged caller meets with
// "rootless mode: ", so that the user knows why.
func rootlessNote() string {
	if unprivileged() {
		return "rootless mode: "
	}
	return ""
}

// rootlessCgroup decides a rootless container's cgroup: in a subtree
// delegated to the user it is made and limited as root's would be (but for
// the device rules, which a user can set neither way); without one the
// container has none, and berth warns, once, if the config asked for
// limits.
func rootlessCgroup(cg *cgroups.Manager) error {
	if unprivileged() {
		cg.SkipDevices()
	}
	if !rootlessCgroups() {
		return nil
	}
	if cg.Delegated() {
		if unprivileged() {
			return cg.CheckMove()
		}
		return nil
	}
	if cg.Disable() {
		logs.Warn("rootless mode: linux.resources not applied: no cgroup subtree is delegated to this user (docs/rootless.md), so the container runs without limits")
	}
	return nil
}

// userName looks uid up in /etc/passwd (what os/user does without cgo,
// without linking os/user into every berth process).
func userName(uid int) (string, bool) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", false
	}
	want := strconv.Itoa(uid)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 4)
		if len(f) == 4 && f[2] == want && f[0] != "" {
			return f[0], true
		}
	}
	return "", false
}
