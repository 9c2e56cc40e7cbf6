// Package seccomp compiles a runtime-spec seccomp profile (linux.seccomp) to
// a BPF program with libseccomp, linked statically, and loads it. The parent
// compiles, so that a bad profile is refused before any process exists; init
// only loads the program it is given. It never imports libcontainer.
package seccomp

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// flagWaitKillableRecv is SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux
// 5.19), which x/sys/unix does not name.
const flagWaitKillableRecv = 1 << 5

// flags are the filter flags a profile may ask for, with their kernel bits.
// SECCOMP_FILTER_FLAG_TSYNC is accepted and has no bit, as in runc: the
// filter goes on init's one thread, the only one left at execve.
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only means something for a filter
// with a listener: Compile sets it only then, as libseccomp does.
var flags = map[specs.LinuxSeccompFlag]uint{
	specs.LinuxSeccompFlagLog:                           unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:                     unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv:              flagWaitKillableRecv,
	specs.LinuxSeccompFlag("SECCOMP_FILTER_FLAG_TSYNC"): 0,
}

// flagSupported asks the kernel whether it knows a filter flag: seccomp()
// checks the flags before it reads the program, so a NULL program fails
// with EFAULT exactly when the flags are good (and installs nothing).
func flagSupported(bit uint) bool {
	if bit == 0 {
		return true
	}
	if bit == flagWaitKillableRecv { // valid only with a listener
		bit |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bit), 0)
	return errno == unix.EFAULT
}

// SupportedFlags lists the flags that work with this kernel, for `berth
// features` (berth loads its filters itself, so libseccomp's version does
// not limit them).
func SupportedFlags() []string {
	var out []string
	for name, bit := range flags {
		if flagSupported(bit) {
			out = append(out, string(name))
		}
	}
	return out
}

// Actions, Operators, Flags and Archs list what berth supports, for
// `berth features`.
func Actions() []string   { return keys(actions) }
func Operators() []string { return keys(operators) }
func Flags() []string     { return keys(flags) }
func Archs() []string {
	var out []string
	for name := range archNames {
		out = append(out, "SCMP_ARCH_"+name)
	}
	return out
}

func keys[K ~string, V any](m map[K]V) []string {
	var out []string
	for k := range m {
		out = append(out, string(k))
	}
	return out
}

// archNames maps the spec's SCMP_ARCH_* suffixes to libseccomp's names.
var archNames = map[string]string{
	"X86": "x86", "X86_64": "amd64", "X32": "x32", "ARM": "arm", "AARCH64": "arm64",
	"MIPS": "mips", "MIPS64": "mips64", "MIPS64N32": "mips64n32", "MIPSEL": "mipsel",
	"MIPSEL64": "mipsel64", "MIPSEL64N32": "mipsel64n32", "PPC": "ppc", "PPC64": "ppc64",
	"PPC64LE": "ppc64le", "S390": "s390", "S390X": "s390x", "RISCV64": "riscv64",
	"LOONGARCH64": "loong64", "PARISC": "parisc", "PARISC64": "parisc64",
}

func archOf(a specs.Arch) (libseccomp.ScmpArch, error) {
	name, ok := archNames[strings.TrimPrefix(string(a), "SCMP_ARCH_")]
	if !ok {
		return 0, fmt.Errorf("unknown architecture %q", a)
	}
	arch, err := libseccomp.GetArchFromString(name)
	if err != nil {
		return 0, fmt.Errorf("architecture %q: %w", a, err)
	}
	return arch, nil
}

// actionOf resolves an action, with errnoRet for ERRNO and TRACE.
func actionOf(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	act, ok := actions[a]
	if !ok {
		return 0, fmt.Errorf("unknown action %q", a)
	}
	switch act {
	case libseccomp.ActErrno, libseccomp.ActTrace:
		code := uint(unix.EPERM)
		if errnoRet != nil {
			code = *errnoRet
		}
		return act.SetReturnCode(int16(code)), nil
	}
	if errnoRet != nil {
		return 0, fmt.Errorf("errnoRet is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", a)
	}
	return act, nil
}
