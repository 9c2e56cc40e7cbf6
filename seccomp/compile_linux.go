package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// CompilerVersion names the format of a compiled Program. A cache of
// compiled programs keys on it, and also on what this constant cannot
// capture: the build of berth, LibraryVersion and the kernel.
const CompilerVersion = "berth-seccomp-2"

// LibraryVersion is the version of the libseccomp berth runs with, as its
// seccomp_version() reports it.
func LibraryVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// Program is a compiled filter: the BPF instructions and the flags to load
// them with. It travels from the parent to init inside the plan.
type Program struct {
	Insns  []unix.SockFilter `json:"insns"`
	Flags  uint              `json:"flags"`
	Notify bool              `json:"notify,omitempty"` // a rule uses SCMP_ACT_NOTIFY
	// KillThread: an action kills the calling thread only (SCMP_ACT_KILL,
	// SCMP_ACT_KILL_THREAD), which in a Go process leaves the others alive.
	KillThread bool `json:"killThread,omitempty"`
}

// ErrNotifyWrite refuses to send write to the agent, in runc's words: the
// runtime must be able to write while the agent has not got the notify fd
// yet (runc refuses it for the same reason).
var ErrNotifyWrite = errors.New("SCMP_ACT_NOTIFY cannot be used for the write syscall")

// ErrNotifyWithoutListener is returned for a NOTIFY rule without listenerPath.
var ErrNotifyWithoutListener = errors.New("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")

// Compile validates a profile and compiles it. Syscall names unknown to
// libseccomp are skipped, as runc skips them: a profile names syscalls of
// many kernels and libcs.
func Compile(s *specs.LinuxSeccomp) (*Program, []string, error) {
	var skipped []string
	def, err := actionOf(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, nil, fmt.Errorf("defaultAction: %w", err)
	}
	prog := &Program{KillThread: def == libseccomp.ActKillThread}
	if def == libseccomp.ActNotify {
		return nil, nil, errors.New("defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, nil, fmt.Errorf("new filter: %w", err)
	}
	defer f.Release()
	// Architectures other than those listed fail with the default action
	// too, not with libseccomp's KILL.
	if err := f.SetBadArchAction(def); err != nil {
		return nil, nil, err
	}
	if err := f.SetNoNewPrivsBit(false); err != nil { // init sets no_new_privs itself
		return nil, nil, err
	}
	for _, a := range s.Architectures {
		arch, err := archOf(a)
		if err != nil {
			return nil, nil, fmt.Errorf("architectures: %w", err)
		}
		if err := f.AddArch(arch); err != nil {
			return nil, nil, fmt.Errorf("architectures: %s: %w", a, err)
		}
	}
	for _, fl := range s.Flags {
		bit, ok := flags[fl]
		if !ok {
			return nil, nil, fmt.Errorf("flags: unknown flag %q", fl)
		}
		if !flagSupported(bit) {
			return nil, nil, fmt.Errorf("flags: %s is not supported by this kernel", fl)
		}
		prog.Flags |= bit
	}
	maxNr := -1
	for i, rule := range s.Syscalls {
		if len(rule.Names) == 0 {
			return nil, nil, fmt.Errorf("syscalls[%d]: names is empty", i)
		}
		act, err := actionOf(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		prog.KillThread = prog.KillThread || act == libseccomp.ActKillThread
		if act == libseccomp.ActNotify {
			if s.ListenerPath == "" {
				return nil, nil, fmt.Errorf("syscalls[%d]: %w", i, ErrNotifyWithoutListener)
			}
			prog.Notify = true
		}
		conds, err := conditions(rule.Args)
		if err != nil {
			return nil, nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		for _, name := range rule.Names {
			if act == libseccomp.ActNotify && name == "write" {
				return nil, nil, fmt.Errorf("syscalls[%d]: %w", i, ErrNotifyWrite)
			}
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				skipped = append(skipped, name)
				continue
			}
			if n, err := libseccomp.GetSyscallFromNameByArch(name, nativeArch()); err == nil && int(n) > maxNr {
				maxNr = int(n)
			}
			if err := addRule(f, nr, act, def, conds); err != nil {
				return nil, nil, fmt.Errorf("syscalls[%d] %s: %w", i, name, err)
			}
		}
	}
	raw, err := exportBPF(f)
	if err != nil {
		return nil, nil, fmt.Errorf("export filter: %w", err)
	}
	if prog.Insns, err = decode(raw); err != nil {
		return nil, nil, err
	}
	if enosysWanted(def) && maxNr >= 0 {
		prog.Insns = withENOSYS(prog.Insns, uint32(maxNr))
	}
	if prog.Notify {
		prog.Flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	} else {
		prog.Flags &^= flagWaitKillableRecv // the kernel refuses it without a listener
	}
	return prog, skipped, nil
}

// conditions converts args. Conditions on the same argument cannot be
// ANDed by libseccomp: addRule then adds one rule per condition (OR).
func conditions(args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var out []libseccomp.ScmpCondition
	for j, a := range args {
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("args[%d]: unknown operator %q", j, a.Op)
		}
		if a.Index > 5 {
			return nil, fmt.Errorf("args[%d]: index %d is past the sixth argument", j, a.Index)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", j, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act, def libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if act == def {
		return nil // libseccomp refuses rules that repeat the default
	}
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range conds {
		repeated = repeated || seen[c.Argument]
		seen[c.Argument] = true
	}
	if !repeated {
		return f.AddRuleConditional(nr, act, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

func nativeArch() libseccomp.ScmpArch {
	a, _ := libseccomp.GetNativeArch()
	return a
}

// exportBPF gets the program through a memfd: libseccomp 2.5 (Debian 12's)
// can only export to a file descriptor.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("berth-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	file := os.NewFile(uintptr(fd), "berth-seccomp")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(file)
}

// decode turns libseccomp's exported program into instructions.
func decode(raw []byte) ([]unix.SockFilter, error) {
	if len(raw)%8 != 0 {
		return nil, fmt.Errorf("export filter: %d bytes is not a whole program", len(raw))
	}
	insns := make([]unix.SockFilter, len(raw)/8)
	for i := range insns {
		b := raw[i*8:]
		insns[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return insns, nil
}
