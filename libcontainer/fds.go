package libcontainer

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// Descriptors handed to `berth init`, numbered in this one place.
//
// The first PreserveFDs descriptors after stdio (3 .. 3+N-1) are the
// caller's, passed through to the workload with the same numbers
// (--preserve-fds, LISTEN_FDS). berth's own follow them, and init learns
// their numbers from the environment variable named here; it marks them
// close-on-exec so that the workload never inherits one (CVE-2024-21626).
const (
	fdInitSock = "_BERTH_FD_INITSOCK" // the init protocol socket (sync.go)
	fdExecFifo = "_BERTH_FD_FIFO"     // O_PATH handle on exec.fifo; absent with StartBySocket
)

// handOver appends files to cmd.ExtraFiles after the preserved ones and
// records each one's number in cmd.Env under its name.
func handOver(cmd *exec.Cmd, preserve int, named map[string]*os.File) {
	for i := 0; i < preserve; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	for name, f := range named {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		cmd.Env = append(cmd.Env, name+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	}
}

// inheritedFD is init's side of handOver.
func inheritedFD(name string) (*os.File, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(name)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", name, v)
	}
	return os.NewFile(uintptr(fd), name), nil
}
