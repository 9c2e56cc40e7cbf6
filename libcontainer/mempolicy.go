package libcontainer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linux.memoryPolicy (runtime-spec 1.3): set with set_mempolicy(2) in init
// before exec; the policy is kept across execve.

// mempolicyModes are the kernel's MPOL_* mode numbers (uapi mempolicy.h).
var mempolicyModes = map[specs.MemoryPolicyModeType]uint{
	specs.MpolDefault: 0, specs.MpolPreferred: 1, specs.MpolBind: 2, specs.MpolInterleave: 3,
	specs.MpolLocal: 4, specs.MpolPreferredMany: 5, specs.MpolWeightedInterleave: 6,
}

// mempolicyFlags are the mode flags, or'ed into the mode.
var mempolicyFlags = map[specs.MemoryPolicyFlagType]uint{
	specs.MpolFStaticNodes: 1 << 15, specs.MpolFRelativeNodes: 1 << 14, specs.MpolFNumaBalancing: 1 << 13,
}

// maxNUMANodes bounds a node number in linux.memoryPolicy.nodes: the
// nodemask passed to set_mempolicy has this many bits.
const maxNUMANodes = 1024

func memoryPolicyModes() []string { return mapKeys(mempolicyModes) }
func memoryPolicyFlags() []string { return mapKeys(mempolicyFlags) }

func mapKeys[K ~string, V any](m map[K]V) []string {
	var out []string
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// memoryPolicy is a validated linux.memoryPolicy, as set_mempolicy takes it.
type memoryPolicy struct {
	mode  uint // mode | flags
	nodes []uint64
}

// parseMemoryPolicy validates p: a known mode and known flags, nodes only
// where the mode takes them, and node numbers in range.
func parseMemoryPolicy(p *specs.LinuxMemoryPolicy) (*memoryPolicy, error) {
	mode, ok := mempolicyModes[p.Mode]
	if !ok {
		return nil, invalid("linux.memoryPolicy.mode %q: unknown mode (want one of %s)", p.Mode, strings.Join(memoryPolicyModes(), ", "))
	}
	mp := &memoryPolicy{mode: mode, nodes: make([]uint64, maxNUMANodes/64)}
	var flags uint
	for _, f := range p.Flags {
		v, ok := mempolicyFlags[f]
		if !ok {
			return nil, invalid("linux.memoryPolicy.flags: unknown flag %q (want one of %s)", f, strings.Join(memoryPolicyFlags(), ", "))
		}
		flags |= v
	}
	static, relative := mempolicyFlags[specs.MpolFStaticNodes], mempolicyFlags[specs.MpolFRelativeNodes]
	if flags&static != 0 && flags&relative != 0 {
		return nil, invalid("linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
	}
	if flags&mempolicyFlags[specs.MpolFNumaBalancing] != 0 && p.Mode != specs.MpolBind && p.Mode != specs.MpolPreferredMany {
		return nil, invalid("linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING needs mode MPOL_BIND or MPOL_PREFERRED_MANY, not %s", p.Mode)
	}
	mp.mode |= flags
	n, err := parseNodeList(p.Nodes, mp.nodes)
	if err != nil {
		return nil, invalid("linux.memoryPolicy.nodes %q: %v", p.Nodes, err)
	}
	switch p.Mode {
	case specs.MpolDefault, specs.MpolLocal:
		if n > 0 || flags != 0 {
			return nil, invalid("linux.memoryPolicy: mode %s takes no nodes and no flags", p.Mode)
		}
	case specs.MpolPreferred:
	default:
		if n == 0 {
			return nil, invalid("linux.memoryPolicy.nodes: mode %s needs at least one node", p.Mode)
		}
	}
	return mp, nil
}

// parseNodeList sets the bits of a list like "0-1,3" in mask and returns
// how many nodes it names.
func parseNodeList(s string, mask []uint64) (int, error) {
	count := 0
	err := parseIDList(s, maxNUMANodes, "node", func(i uint) {
		if mask[i/64]&(1<<(i%64)) == 0 {
			count++
		}
		mask[i/64] |= 1 << (i % 64)
	})
	return count, err
}

// parseIDList parses a kernel list like "0-1,3" (NUMA nodes, CPUs) of
// numbers below max, calling set for each.
func parseIDList(s string, max uint, what string, set func(uint)) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := parseListID(lo, max, what)
		if err != nil {
			return err
		}
		b := a
		if isRange {
			if b, err = parseListID(hi, max, what); err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("range %q runs backwards", part)
			}
		}
		for i := a; i <= b; i++ {
			set(i)
		}
	}
	return nil
}

func parseListID(s string, max uint, what string) (uint, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a %s number", s, what)
	}
	if v >= uint64(max) {
		return 0, fmt.Errorf("%s %d is out of range (0-%d)", what, v, max-1)
	}
	return uint(v), nil
}

func validateMemoryPolicy(p *specs.LinuxMemoryPolicy) error {
	_, err := parseMemoryPolicy(p)
	return err
}
