package libcontainer

import (
	"fmt"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setMemoryPolicy applies linux.memoryPolicy to the calling thread (init is
// locked to it, and the policy survives execve).
func setMemoryPolicy(p *specs.LinuxMemoryPolicy) error {
	if p == nil {
		return nil
	}
	mp, err := parseMemoryPolicy(p)
	if err != nil {
		return err
	}
	// maxnode counts one more than the bits passed (the kernel drops one).
	_, _, e := unix.Syscall(unix.SYS_SET_MEMPOLICY, uintptr(mp.mode),
		uintptr(unsafe.Pointer(&mp.nodes[0])), uintptr(len(mp.nodes)*64+1))
	if e != 0 {
		return fmt.Errorf("linux.memoryPolicy (mode %s, nodes %q): %w", p.Mode, p.Nodes, os.NewSyscallError("set_mempolicy", e))
	}
	return nil
}
