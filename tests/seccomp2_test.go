package tests

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// trustedDir makes a directory that berth trusts for its seccomp cache:
// root's, 0700, below directories only root can write (so not in /tmp).
func trustedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/cache", "h6-seccomp-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// plantAllowAll replaces the program of every entry in the cache with one
// that allows every syscall, keeping each entry's key.
func plantAllowAll(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var entry map[string]any
		if err := json.Unmarshal(data, &entry); err != nil {
			t.Fatal(err)
		}
		// BPF_RET|BPF_K SECCOMP_RET_ALLOW
		entry["program"] = map[string]any{"insns": []map[string]any{{"Code": 6, "Jt": 0, "Jf": 0, "K": 0x7fff0000}}, "flags": 0}
		data, _ = json.Marshal(entry)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return len(files)
}

// A compiled filter planted in a cache directory that others can write is
// not used: the container still runs under its own profile, and berth warns
// once. (In a trusted directory the same planted entry is used, which shows
// that the test plants what berth would read.)
func TestSeccompCachePlantedEntryInWorldWritableDirIgnored(t *testing.T) {
	e := newEnv(t)
	cache := trustedDir(t)
	t.Setenv("BERTH_SECCOMP_CACHE", cache)
	b := e.bundle([]string{"sh", "-c", "mkdir /dev/shm/a; echo mkdir=$?"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
	)))
	if out, _ := e.run("h6-cache-1", b); !strings.Contains(out, "mkdir=1") {
		t.Fatalf("mkdir under a deny-mkdir profile: %q", out)
	}
	if n := plantAllowAll(t, cache); n != 1 {
		t.Fatalf("BERTH_SECCOMP_CACHE %s holds %d entries after one profile, want 1", cache, n)
	}
	if out, _ := e.run("h6-cache-2", b); !strings.Contains(out, "mkdir=0") {
		t.Fatalf("the planted entry was not read from a trusted cache (%q): the test plants the wrong thing", out)
	}
	if err := os.Chmod(cache, 0o777); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.berth("run", "--bundle", b, "h6-cache-3")
	if code != 0 || !strings.Contains(out+errs, "mkdir=1") {
		t.Fatalf("a planted filter in a world-writable cache was used: %q %q (exit %d)", out, errs, code)
	}
	warn := strings.Split(strings.TrimSpace(strings.ReplaceAll(errs, "mkdir: can't create directory '/dev/shm/a': Operation not permitted", "")), "\n")
	if len(warn) != 1 || !strings.Contains(warn[0], "seccomp cache") || !strings.Contains(warn[0], "writable by group or others") {
		t.Fatalf("want one warning line about the untrusted cache, got %q", errs)
	}
}

// continueAgent accepts one connection on l, takes the notify fd, and lets
// every notified syscall go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE), counting
// them by number into seen until the fd closes; done is closed then.
func continueAgent(l *net.UnixListener, seen *sync.Map, done chan<- struct{}) {
	defer close(done)
	conn, err := l.AcceptUnix()
	if err != nil {
		return
	}
	defer conn.Close()
	buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) != 1 {
		return
	}
	fds, _ := unix.ParseUnixRights(&msgs[0])
	if len(fds) != 1 {
		return
	}
	defer unix.Close(fds[0])
	for {
		// A blocking receive never returns once the filter's tasks are
		// gone: poll, which reports that as POLLHUP.
		pfd := []unix.PollFd{{Fd: int32(fds[0]), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 30000); err == unix.EINTR {
			continue
		} else if err != nil || n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
			return
		}
		var req seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fds[0]), ioctlNotifRecv, uintptr(ptr(&req))); e != 0 {
			if e == unix.EINTR || e == unix.ENOENT {
				continue
			}
			return
		}
		nr := int32(binary.NativeEndian.Uint32(req.Data[:4]))
		n, _ := seen.LoadOrStore(nr, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		resp := seccompNotifResp{ID: req.ID, Flags: 1} // SECCOMP_USER_NOTIF_FLAG_CONTINUE
		unix.Syscall(unix.SYS_IOCTL, uintptr(fds[0]), ioctlNotifSend, uintptr(ptr(&resp)))
	}
}

// berthTimeout runs berth, killing it after d; it returns stdout+stderr,
// the exit code, and whether it had to be killed.
func berthTimeout(e *env, d time.Duration, args ...string) (string, int, bool) {
	cmd := newBerthCmd(e, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a hung init holds the output pipe too
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return out.String(), cmd.ProcessState.ExitCode(), false
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return out.String(), -1, true
	}
}

// A profile that sends the syscalls berth's init makes on its last steps
// (execve, openat, open, read, close, fcntl) to the agent does not hang: init
// makes none of them between loading the filter and handing the notify fd
// over (runc issue 4328), with and without noNewPrivileges.
func TestSeccompNotifyImportantSyscallsDoNotHang(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		t.Run(fmt.Sprintf("noNewPrivileges=%v", nnp), func(t *testing.T) {
			e := newEnv(t)
			sock := filepath.Join(t.TempDir(), "agent.sock")
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var seen sync.Map
			done := make(chan struct{})
			go continueAgent(l, &seen, done)
			b := e.bundle([]string{"sh", "-c", "cat /etc/group >/dev/null && echo notified-ok"}, func(s *specs.Spec) {
				p := allowAllBut(specs.LinuxSyscall{Names: []string{"execve", "openat", "open", "read", "close", "fcntl"}, Action: specs.ActNotify})
				p.ListenerPath = sock
				s.Linux.Seccomp = p
				s.Process.NoNewPrivileges = nnp
			})
			id := fmt.Sprintf("h6-notify-%v", nnp)
			out, code, killed := berthTimeout(e, 20*time.Second, "run", "--bundle", b, id)
			if killed || code != 0 || !strings.Contains(out, "notified-ok") {
				t.Fatalf("run with notified execve/openat/read/close/fcntl: %q (exit %d, hung: %v)", out, code, killed)
			}
			<-done
			if n, ok := seen.Load(int32(unix.SYS_EXECVE)); !ok || n.(*atomic.Int32).Load() < 1 {
				t.Fatal("the agent never saw execve")
			}
			if _, ok := seen.Load(int32(unix.SYS_OPENAT)); !ok {
				t.Fatal("the agent never saw openat")
			}
		})
	}
}

// auditLines counts the kernel's seccomp audit records for syscall nr made
// by a process named comm.
func auditLines(t *testing.T, comm string, nr int) int {
	t.Helper()
	out, err := exec.Command("dmesg").Output()
	if err != nil {
		t.Skipf("dmesg: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "type=1326") && strings.Contains(line, `comm="`+comm+`"`) && strings.Contains(line, fmt.Sprintf(" syscall=%d ", nr)) {
			n++
		}
	}
	return n
}

// linux.seccomp.flags are honoured: with SECCOMP_FILTER_FLAG_LOG the kernel
// logs an ERRNO action (an audit record in dmesg) (without it, it does not); WAIT_KILLABLE_RECV on a
// profile without a listener is dropped, as libseccomp drops it, instead
// of failing in init with EINVAL; TSYNC is accepted. `berth features`
// reports each as supported.
func TestSeccompFlagsHonoured(t *testing.T) {
	e := newEnv(t)
	rmdirRefused := func(flags ...specs.LinuxSeccompFlag) func(*specs.Spec) {
		return func(s *specs.Spec) {
			p := allowAllBut(specs.LinuxSyscall{Names: []string{"rmdir"}, Action: specs.ActErrno})
			p.Flags = flags
			s.Linux.Seccomp = p
		}
	}
	for i, tc := range []struct {
		flags []specs.LinuxSeccompFlag
		logs  bool
	}{
		{nil, false},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}, true},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv, "SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagSpecAllow}, false},
	} {
		before := auditLines(t, "rmdir", unix.SYS_RMDIR)
		b := e.bundle([]string{"sh", "-c", "rmdir /dev/shm"}, rmdirRefused(tc.flags...))
		out, code := e.run(fmt.Sprintf("h6-flags-%d", i), b)
		if code != 1 || !strings.Contains(out, "Operation not permitted") {
			t.Fatalf("flags %v: %q (exit %d)", tc.flags, out, code)
		}
		if logged := auditLines(t, "rmdir", unix.SYS_RMDIR) > before; logged != tc.logs {
			t.Errorf("flags %v: the kernel logged the refused rmdir: %v, want %v", tc.flags, logged, tc.logs)
		}
	}
	var f struct {
		Linux struct {
			Seccomp struct {
				SupportedFlags []string `json:"supportedFlags"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	json.Unmarshal([]byte(e.mustBerth("features")), &f)
	got := strings.Join(f.Linux.Seccomp.SupportedFlags, " ")
	for _, want := range []string{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"} {
		if !strings.Contains(got, want) {
			t.Errorf("features: supportedFlags %q lacks %s", got, want)
		}
	}
}

// SCMP_ACT_NOTIFY on write is refused before anything exists, in runc's
// words: the runtime must be able to write while it hands the notify fd
// over.
func TestSeccompNotifyWriteRefused(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		p := allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "write"}, Action: specs.ActNotify})
		p.ListenerPath = sock
		s.Linux.Seccomp = p
		s.Linux.CgroupsPath = "/h6-notify-write"
	})
	e.expectRefused([]string{"linux.seccomp", "syscalls[0]", "SCMP_ACT_NOTIFY cannot be used for the write syscall"}, "run", "--bundle", b, "h6-notify-write")
	e.assertNothingLeft("h6-notify-write", "h6-notify-write", b)
}

// A profile whose default action kills (SCMP_ACT_KILL kills only the
// calling thread) kills init before exec. berth notices: run ends, with
// init's death by SIGSYS, and leaves nothing behind. (Before, the Go
// runtime's other threads kept a threadless init, and run, alive forever.)
func TestSeccompKillDefaultActionDoesNotHang(t *testing.T) {
	e := newEnv(t)
	for _, act := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillThread, specs.ActKillProcess} {
		for _, nnp := range []bool{true, false} {
			b := e.bundle([]string{"true"}, func(s *specs.Spec) {
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: act}
				s.Process.NoNewPrivileges = nnp
				s.Linux.CgroupsPath = "/h6-kill-default"
			})
			id := "h6-kill-default"
			out, code, killed := berthTimeout(e, 20*time.Second, "run", "--bundle", b, id)
			if killed {
				t.Fatalf("%s (noNewPrivileges %v): run hung", act, nnp)
			}
			if nnp && code != 128+int(unix.SIGSYS) {
				t.Errorf("%s (noNewPrivileges %v): exit %d, want %d (SIGSYS): %q", act, nnp, code, 128+int(unix.SIGSYS), out)
			}
			if !nnp && (code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "bad system call") || !strings.Contains(out, "linux.seccomp")) {
				t.Errorf("%s (noNewPrivileges %v): exit %d, %q; want one line saying init died of SIGSYS by linux.seccomp", act, nnp, code, out)
			}
			e.berth("delete", "-f", id)
			e.assertNothingLeft(id, "h6-kill-default", b)
		}
	}
}

// A lowercase capability name is not a capabilities(7) name: it is refused
// like an unknown one (one line naming the field), never granted.
func TestLowercaseCapabilityNotGranted(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "grep CapEff /proc/self/status"}, func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "cap_sys_admin")
		c.Effective = append(c.Effective, "cap_sys_admin")
		c.Permitted = append(c.Permitted, "cap_sys_admin")
		s.Linux.CgroupsPath = "/h6-lowercap"
	})
	e.expectRefused([]string{"process.capabilities.bounding", `"cap_sys_admin"`}, "run", "--bundle", b, "h6-lowercap")
	e.assertNothingLeft("h6-lowercap", "h6-lowercap", b)
}
