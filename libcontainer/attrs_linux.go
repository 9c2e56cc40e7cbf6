package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Process attributes that are one syscall each: personality, I/O priority,
// scheduler, AppArmor. Each is a no-op when unset.

var personalities = map[specs.LinuxPersonalityDomain]uintptr{
	specs.PerLinux: 0x0000, specs.PerLinux32: 0x0008,
}

// personalityFlags are the kernel's (uapi linux/personality.h), or'ed into
// the domain: linux.personality.flags.
var personalityFlags = map[specs.LinuxPersonalityFlag]uintptr{
	"UNAME26": 0x0020000, "ADDR_NO_RANDOMIZE": 0x0040000, "FDPIC_FUNCPTRS": 0x0080000,
	"MMAP_PAGE_ZERO": 0x0100000, "ADDR_COMPAT_LAYOUT": 0x0200000, "READ_IMPLIES_EXEC": 0x0400000,
	"ADDR_LIMIT_32BIT": 0x0800000, "SHORT_INODE": 0x1000000, "WHOLE_SECONDS": 0x2000000,
	"STICKY_TIMEOUTS": 0x4000000, "ADDR_LIMIT_3GB": 0x8000000,
}

func setPersonality(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	dom, ok := personalities[p.Domain]
	if !ok {
		return fmt.Errorf("linux.personality: unknown domain %q (want LINUX or LINUX32)", p.Domain)
	}
	for _, f := range p.Flags {
		dom |= personalityFlags[f] // checked by validatePersonality
	}
	if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, dom, 0, 0); e != 0 {
		return fmt.Errorf("linux.personality: %w", os.NewSyscallError("personality", e))
	}
	return nil
}

var ioClasses = map[specs.IOPriorityClass]uintptr{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

func setIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	class, ok := ioClasses[p.Class]
	if !ok {
		return fmt.Errorf("process.ioPriority: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("process.ioPriority: priority %d is outside 0-7", p.Priority)
	}
	const whoProcess = 1
	if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, whoProcess, 0, class<<13|uintptr(p.Priority)); e != 0 {
		return fmt.Errorf("process.ioPriority: %w", os.NewSyscallError("ioprio_set", e))
	}
	return nil
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

// schedAttr is struct sched_attr (sched_setattr(2)).
type schedAttr struct {
	size, policy              uint32
	flags                     uint64
	nice                      int32
	priority                  uint32
	runtime, deadline, period uint64
	utilMin, utilMax          uint32
}

func setScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		return fmt.Errorf("process.scheduler: unknown policy %q", s.Policy)
	}
	a := schedAttr{policy: policy, nice: s.Nice, priority: uint32(s.Priority),
		runtime: s.Runtime, deadline: s.Deadline, period: s.Period}
	a.size = uint32(unsafe.Sizeof(a))
	for _, f := range s.Flags {
		bit, ok := schedFlags[f]
		if !ok {
			return fmt.Errorf("process.scheduler: unknown flag %q", f)
		}
		a.flags |= bit
	}
	if _, _, e := unix.Syscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&a)), 0); e != 0 {
		return fmt.Errorf("process.scheduler: %w", os.NewSyscallError("sched_setattr", e))
	}
	return nil
}

// appArmorEnabled reports whether the host enforces AppArmor.
func appArmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(data), "Y")
}

// setAppArmorOnExec makes the next execve enter profile. The attribute is
// written through a /proc verified to be a real procfs, so an image that
// mounts something else on /proc cannot swallow the write (CVE-2019-16884).
func setAppArmorOnExec(profile string) error {
	if profile == "" || !appArmorEnabled() {
		return nil
	}
	var err error
	for _, path := range []string{"/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"} {
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			break
		}
		var st unix.Statfs_t
		if err = unix.Fstatfs(int(f.Fd()), &st); err == nil && st.Type != unix.PROC_SUPER_MAGIC {
			err = fmt.Errorf("%s is not on procfs", path)
		}
		if err == nil {
			_, err = f.WriteString("exec " + profile)
		}
		f.Close()
		break
	}
	if err != nil {
		return fmt.Errorf("process.apparmorProfile %q: %w", profile, err)
	}
	return nil
}
