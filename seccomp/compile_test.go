package seccomp

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The filter is loaded in a child process (this test binary re-run with
// BERTH_SECCOMP_CHILD set), which then reports the errno of a few syscalls.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_SECCOMP_CHILD") != "" {
		seccompChild()
		return
	}
	os.Exit(m.Run())
}

func profile() *specs.LinuxSeccomp {
	// Refuse by default; allow what a Go program needs to run and exit, and
	// name getpid so the profile's highest syscall number is known.
	allow := []string{"read", "write", "close", "mmap", "munmap", "mprotect", "rt_sigaction", "rt_sigprocmask",
		"rt_sigreturn", "futex", "exit", "exit_group", "sched_yield", "nanosleep", "clock_gettime", "sigaltstack",
		"gettid", "tgkill", "madvise", "getpid", "fcntl", "epoll_pwait", "epoll_ctl", "openat", "pipe2", "clone", "clone3", "set_robust_list", "rseq"}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: allow, Action: specs.ActAllow},
			{Names: []string{"no_such_syscall_in_any_kernel"}, Action: specs.ActAllow},
		},
	}
}

func seccompChild() {
	runtime.LockOSThread()
	prog, _, err := Compile(profile())
	if err == nil {
		unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
		_, err = prog.Load()
	}
	if err != nil {
		os.Stdout.WriteString("load: " + err.Error())
		os.Exit(2)
	}
	var out []string
	for _, nr := range []uintptr{unix.SYS_MKDIRAT, 1000, unix.SYS_GETPID} {
		_, _, e := unix.RawSyscall(nr, 0, 0, 0)
		out = append(out, e.Error())
	}
	os.Stdout.WriteString(strings.Join(out, ";"))
	os.Exit(0)
}

func TestFilterEPERMForKnownENOSYSForNewer(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BERTH_SECCOMP_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	got := strings.Split(string(out), ";")
	if len(got) != 3 || got[0] != unix.EPERM.Error() || got[1] != unix.ENOSYS.Error() || got[2] != unix.Errno(0).Error() {
		t.Fatalf("mkdirat, syscall 1000, getpid: %q; want EPERM, ENOSYS, success", got)
	}
}

func TestCompileRefusesBadProfiles(t *testing.T) {
	one := uint(1)
	for _, tc := range []struct {
		p    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: "BOGUS"}, "defaultAction"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "default action"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/a.sock", Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActNotify}}}, "SCMP_ACT_NOTIFY cannot be used for the write syscall"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"BOGUS"}}, "unknown flag"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActKill, ErrnoRet: &one}}}, "errnoRet"},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "index"},
	} {
		if _, _, err := Compile(&tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%+v) = %v, want an error about %s", tc.p, err, tc.want)
		}
	}
}

// The filter flags reach the kernel as runc passes them: LOG and SPEC_ALLOW
// as asked, TSYNC never (one thread), WAIT_KILLABLE_RECV only with a
// listener, which the kernel requires.
func TestCompileFlags(t *testing.T) {
	listen := specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}
	for _, tc := range []struct {
		flags  []specs.LinuxSeccompFlag
		notify bool
		want   uint
	}{
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}, false, unix.SECCOMP_FILTER_FLAG_LOG},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagLog}, false, unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, false, 0},
		{[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, true, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, false, 0},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, true, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | flagWaitKillableRecv},
	} {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: tc.flags, ListenerPath: "/agent.sock"}
		if tc.notify {
			p.Syscalls = []specs.LinuxSyscall{listen}
		}
		prog, _, err := Compile(p)
		if err != nil {
			t.Fatalf("%v (notify %v): %v", tc.flags, tc.notify, err)
		}
		if prog.Flags != tc.want {
			t.Errorf("%v (notify %v): flags %#x, want %#x", tc.flags, tc.notify, prog.Flags, tc.want)
		}
	}
	supported := strings.Join(SupportedFlags(), " ")
	for _, name := range []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"} { // Linux 4.17
		if !strings.Contains(supported, name) {
			t.Errorf("%s is not supported by this kernel (%s)", name, supported)
		}
	}
}
