package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setKernelTCP applies linux.resources.memory.kernelTCP, which the cgroup
// library no longer writes: memory.kmem.tcp.limit_in_bytes on v1 (and
// hybrid) hosts. cgroup v2 has no such limit; there it is ignored, as runc
// does.
func (m *Manager) setKernelTCP(mem *specs.LinuxMemory) error {
	if mem == nil || mem.KernelTCP == nil {
		return nil
	}
	dir, ok := m.m.GetPaths()["memory"]
	if !ok || IsUnified() {
		return nil
	}
	path := filepath.Join(dir, "memory.kmem.tcp.limit_in_bytes")
	if err := os.WriteFile(path, []byte(strconv.FormatInt(*mem.KernelTCP, 10)), 0); err != nil {
		return fmt.Errorf("linux.resources.memory.kernelTCP: %w", err)
	}
	return nil
}
