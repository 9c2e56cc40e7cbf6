package tests

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func errno(n uint) *uint { return &n }

// allowAllBut is a profile allowing everything except the given rules.
func allowAllBut(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      rules,
	}
}

func withSeccomp(p *specs.LinuxSeccomp) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Linux.Seccomp = p }
}

func TestSeccompErrno(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "mkdir /tmp/a; echo mkdir=$?; rmdir /tmp 2>&1; true"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
		specs.LinuxSyscall{Names: []string{"rmdir"}, Action: specs.ActErrno, ErrnoRet: errno(38)},
	)))
	out, code := e.run("sc-errno", b)
	if code != 0 || !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "mkdir=1") {
		t.Fatalf("mkdir under a deny-mkdir profile: %q (exit %d)", out, code)
	}
	if !strings.Contains(out, "Function not implemented") && !strings.Contains(out, "not implemented") {
		t.Fatalf("rmdir with errnoRet 38 did not fail with ENOSYS: %q", out)
	}
}

func TestSeccompKillProcessShowsSIGSYS(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"mkdir", "/tmp/x"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKillProcess},
	)))
	if out, code := e.run("sc-kill", b); code != 128+int(unix.SIGSYS) {
		t.Fatalf("exit %d, want %d (SIGSYS): %q", code, 128+int(unix.SIGSYS), out)
	}
}

func TestSeccompArgumentFilter(t *testing.T) {
	e := newEnv(t)
	// personality(0xffffffff) queries; personality(8) (PER_LINUX32... any
	// other value) is refused.
	b := e.bundle([]string{"sh", "-c", "setarch linux32 true; echo linux32=$?; uname -m"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0008, Op: specs.OpEqualTo}}},
	)))
	out, _ := e.run("sc-args", b)
	if !strings.Contains(out, "linux32=1") || !strings.Contains(out, "x86_64") {
		t.Fatalf("personality(PER_LINUX32) was not refused or other values were: %q", out)
	}
}

// docker's default profile: ordinary programs run, and what docker refuses
// (unshare, mount, keyctl) is refused.
func TestSeccompDockerDefaultProfile(t *testing.T) {
	e := newEnv(t)
	var b string
	b = e.bundle([]string{"sh", "-c", "echo ok; ls / >/dev/null && echo ls-ok; unshare -U true; echo unshare=$?; mount -t tmpfs t /tmp; echo mount=$?"}, func(s *specs.Spec) {
		p, err := mobyseccomp.GetDefaultProfile(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Linux.Seccomp = p
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_SYS_ADMIN")
	})
	// The profile is made for the spec's capabilities: drop CAP_SYS_ADMIN
	// again so the profile's "not with CAP_SYS_ADMIN" rules are in force.
	e.editSpec(b, func(s *specs.Spec) {
		p, _ := mobyseccomp.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
		s.Linux.Seccomp = p
	})
	out, code := e.run("sc-docker", b)
	if code != 0 || !strings.Contains(out, "ok\nls-ok") || !strings.Contains(out, "unshare=1") || !strings.Contains(out, "mount=255") && !strings.Contains(out, "mount=1") {
		t.Fatalf("docker default profile: %q (exit %d)", out, code)
	}
	if !strings.Contains(out, "Operation not permitted") {
		t.Fatalf("refusals did not say EPERM: %q", out)
	}
}

// A seccomp agent gets the notify fd on listenerPath and answers mkdir.
func TestSeccompNotifyAgent(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan specs.ContainerProcessState, 1)
	go runAgent(t, l, got)
	b := e.bundle([]string{"sh", "-c", "mkdir /tmp/notified; echo mkdir=$?"}, func(s *specs.Spec) {
		p := allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify})
		p.ListenerPath = sock
		p.ListenerMetadata = "berth-test-meta"
		s.Linux.Seccomp = p
	})
	out, code := e.run("sc-notify", b)
	// The agent answers every mkdir with EXDEV: the container sees it.
	if code != 0 || !strings.Contains(out, "mkdir=1") || !strings.Contains(out, "cross-device") && !strings.Contains(out, "Invalid cross-device link") {
		t.Fatalf("container did not see the agent's answer: %q (exit %d)", out, code)
	}
	select {
	case st := <-got:
		if st.Metadata != "berth-test-meta" || st.State.ID != "sc-notify" || len(st.Fds) != 1 || st.Fds[0] != "seccompFd" {
			t.Fatalf("agent got state %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent never got the notify fd")
	}
}

// runAgent accepts one connection, reads the state and the notify fd, and
// answers each notification with EXDEV until the fd closes.
func runAgent(t *testing.T, l *net.UnixListener, got chan<- specs.ContainerProcessState) {
	conn, err := l.AcceptUnix()
	if err != nil {
		return
	}
	defer conn.Close()
	buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var st specs.ContainerProcessState
	json.Unmarshal(buf[:n], &st)
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 {
		return
	}
	fds, _ := unix.ParseUnixRights(&msgs[0])
	if len(fds) != 1 {
		return
	}
	got <- st
	notifyLoop(fds[0])
}

// seccomp_notif and seccomp_notif_resp, and their ioctls (linux/seccomp.h).
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  [64]byte
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const (
	ioctlNotifRecv = 0xc0502100
	ioctlNotifSend = 0xc0182101
)

func notifyLoop(fd int) {
	defer unix.Close(fd)
	for {
		var req seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifRecv, uintptr(ptr(&req))); e != 0 {
			return
		}
		resp := seccompNotifResp{ID: req.ID, Error: -int32(unix.EXDEV)}
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlNotifSend, uintptr(ptr(&resp)))
	}
}

func TestSeccompBadProfilesAreRefused(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		p    *specs.LinuxSeccomp
		want string
	}{
		"unknown action":   {allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: "SCMP_ACT_BOGUS"}), "unknown action"},
		"unknown operator": {allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_BOGUS"}}}), "unknown operator"},
		"unknown arch":     {&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_BOGUS"}}, "unknown architecture"},
		"empty names":      {allowAllBut(specs.LinuxSyscall{Names: []string{}, Action: specs.ActErrno}), "names is empty"},
		"missing listener": {func() *specs.LinuxSeccomp {
			p := allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify})
			p.ListenerPath = "/nonexistent/agent.sock"
			return p
		}(), "/nonexistent/agent.sock"},
		"notify without listener": {allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify}), "listenerPath"},
	} {
		b := e.bundle([]string{"true"}, withSeccomp(tc.p), func(s *specs.Spec) { s.Linux.CgroupsPath = "/berth-test-scbad" })
		id := "scbad-" + strings.ReplaceAll(name, " ", "-")
		e.expectRefused([]string{"linux.seccomp", tc.want}, "run", "--bundle", b, id)
		e.assertNothingLeft(id, "berth-test-scbad", b)
	}
}

func TestSeccompAppliesToExec(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
	)))
	e.mustBerth("run", "-d", "--bundle", b, "sc-exec")
	out, _, _ := e.berth("exec", "sc-exec", "sh", "-c", "mkdir /tmp/y 2>&1; echo rc=$?")
	if !strings.Contains(out, "Operation not permitted") {
		t.Fatalf("exec'd process escaped the container's seccomp profile: %q", out)
	}
	_ = os.Getpid
}
