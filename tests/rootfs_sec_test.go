package tests

import (
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

// tmpcopyup copies the image's directory while / is still the host's. A
// process racing in the image swaps entries with symlinks to host files
// and directories (renameat2 RENAME_EXCHANGE) during the copy: the host's
// content must never land in the container (CVE-2021-30465 class).
func TestTmpcopyupRaceNeverCopiesHostFiles(t *testing.T) {
	e := newEnv(t)
	const secret = "HOST-SECRET-h4"
	hostDir := t.TempDir()
	// A directory of the image and the host's have the same names: a path
	// through a directory swapped mid-copy reaches the host's file.
	const inner = 16
	for k := 0; k < inner; k++ {
		os.WriteFile(filepath.Join(hostDir, "inner"+itoa(k)), []byte(secret+"\n"), 0o644)
	}
	hostFile := filepath.Join(hostDir, "inner0")
	b := e.bundle([]string{"sh", "-c", "cat /data/* /data/*/* 2>/dev/null; echo RAN"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}})
	})
	data := filepath.Join(b, "rootfs", "data")
	os.Mkdir(data, 0o755)
	const pairs = 8
	for i := 0; i < pairs; i++ {
		n := itoa(i)
		os.WriteFile(filepath.Join(data, "f"+n), []byte("image\n"), 0o644)
		os.Symlink(hostFile, filepath.Join(data, "lf"+n))
		os.Mkdir(filepath.Join(data, "d"+n), 0o755)
		for k := 0; k < inner; k++ {
			os.WriteFile(filepath.Join(data, "d"+n, "inner"+itoa(k)), []byte("image\n"), 0o644)
		}
		os.Symlink(hostDir, filepath.Join(data, "ld"+n))
	}
	dir, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, kind := range []string{"f", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd := int(dir.Fd())
			for !stop.Load() {
				for i := 0; i < pairs; i++ {
					n := itoa(i)
					unix.Renameat2(fd, kind+n, fd, "l"+kind+n, unix.RENAME_EXCHANGE)
				}
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	ran := 0
	for i := 0; i < 30; i++ {
		out, _ := e.run("h4-copyup-race-"+itoa(i), b)
		if strings.Contains(out, secret) {
			stop.Store(true)
			t.Fatalf("run %d: the host's file landed in the container: %q", i, out)
		}
		if strings.Contains(out, "RAN") {
			ran++
		} else {
			t.Logf("run %d: %s", i, strings.TrimSpace(out))
		}
	}
	if ran == 0 {
		t.Fatal("no run reached the workload: the test proved nothing")
	}
	t.Logf("%d of 30 runs reached the workload", ran)
}

// tmpcopyup copies modes exactly, without the umask, keeps owners and
// set-id bits, and the tmpfs takes the mode and owner of the directory it
// covers.
func TestTmpcopyupKeepsModes(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "cd /data && stat -c '%a %u:%g %n' . sub file sgid sub/deep"}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "tmpcopyup"}})
	})
	data := filepath.Join(b, "rootfs", "data")
	mk := func(path string, dir bool, mode os.FileMode, uid int) {
		var err error
		if dir {
			err = os.Mkdir(path, 0o700)
		} else {
			err = os.WriteFile(path, []byte("x"), 0o600)
		}
		if err == nil {
			err = os.Chown(path, uid, uid)
		}
		if err == nil {
			err = os.Chmod(path, mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	mk(data, true, 0o705, 1000)
	mk(filepath.Join(data, "sub"), true, 0o777|os.ModeSticky, 1001)
	mk(filepath.Join(data, "file"), false, 0o666, 1002)
	mk(filepath.Join(data, "sgid"), false, 0o755|os.ModeSetgid, 1003)
	mk(filepath.Join(data, "sub", "deep"), true, 0o770, 0)
	out, code := e.run("h4-copyup-modes", b)
	want := "705 1000:1000 .\n1777 1001:1001 sub\n666 1002:1002 file\n2755 1003:1003 sgid\n770 0:0 sub/deep\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d:\n%s\nwant:\n%s", code, out, want)
	}
}

// A net.* sysctl with the network namespace joined by a path that names
// the host's (the caller's) would be written to the host: it is refused
// with one line, and the host's value stays.
func TestSysctlRefusedInJoinedHostNetNS(t *testing.T) {
	const key, file = "net.ipv4.tcp_keepalive_probes", "/proc/sys/net/ipv4/tcp_keepalive_probes"
	before, err := os.ReadFile(file)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.WriteFile(file, before, 0) })
	for i, path := range []string{"/proc/self/ns/net", "/proc/" + itoa(os.Getpid()) + "/ns/net"} {
		e := newEnv(t)
		b := e.bundle([]string{"true"}, func(s *specs.Spec) {
			for j, ns := range s.Linux.Namespaces {
				if ns.Type == specs.NetworkNamespace {
					s.Linux.Namespaces[j].Path = path
				}
			}
			s.Linux.Sysctl = map[string]string{key: "77"}
		})
		out, code := e.run("h4-sysctl-"+itoa(i), b)
		now, _ := os.ReadFile(file)
		if string(now) != string(before) {
			t.Fatalf("%s: the host's %s changed from %q to %q", path, key, before, now)
		}
		msg := strings.TrimSpace(out)
		if code == 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, "not allowed in host network namespace") || !strings.Contains(msg, "linux.sysctl") {
			t.Fatalf("%s: exit %d, want one line naming linux.sysctl: %q", path, code, out)
		}
	}
	// A joined namespace that is not the host's still takes the sysctl.
	holder := exec.Command("unshare", "-n", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	nsFile := "/proc/" + itoa(holder.Process.Pid) + "/ns/net"
	for i := 0; i < 100; i++ { // until unshare has made the namespace
		if a, _ := os.Readlink(nsFile); a != "" {
			if b, _ := os.Readlink("/proc/self/ns/net"); a != b {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	e := newEnv(t)
	b := e.bundle([]string{"cat", file}, func(s *specs.Spec) {
		for j, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[j].Path = nsFile
			}
		}
		s.Linux.Sysctl = map[string]string{key: "77"}
	})
	if out, code := e.run("h4-sysctl-own", b); code != 0 || out != "77\n" {
		t.Fatalf("joined non-host namespace: exit %d: %q", code, out)
	}
}

// readTerminal creates id with a terminal, starts it, and returns what the
// workload wrote to it until it ended.
func readTerminal(t *testing.T, e *env, b, id string) string {
	t.Helper()
	sock, got := receiveConsole(t)
	e.mustBerth("create", "--bundle", b, "--console-socket", sock, id)
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no terminal arrived on the console socket")
	}
	defer master.Close()
	e.mustBerth("start", id)
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "END") {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return strings.ReplaceAll(out.String(), "\r", "")
}

// With process.terminal, /dev/console is the container's terminal (the
// runtime spec requires it; runc binds the pty slave there), also with a
// read-only /dev.
func TestTerminalHasDevConsole(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "stat -L -c '%F %t:%T' /dev/console /proc/self/fd/0; echo END"}, func(s *specs.Spec) {
		s.Process.Terminal = true
		for i, m := range s.Mounts {
			if m.Destination == "/dev" {
				s.Mounts[i].Options = append(m.Options, "ro")
			}
		}
	})
	out := readTerminal(t, e, b, "h4-console")
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "character special file 88:") || lines[0] != lines[1] {
		t.Fatalf("/dev/console and the terminal: %q, want the same pty (major 136)", out)
	}
}

// --no-pivot keeps the old root under the new one in the container's mount
// namespace; the host's full proc there would let the workload mount a
// bare /proc of its own (in new user and pid namespaces). It must fail, as
// in runc; the container's /proc and the host's mounts stay.
func TestNoPivotHidesHostProc(t *testing.T) {
	if h, _ := os.Hostname(); h == "berth-vm" {
		// busybox switch_root leaves the initramfs's proc mounted under
		// the old, unreachable root: the kernel counts it as a full proc
		// that no one can detach (tests/vm/init; real hosts move theirs).
		t.Skip("the qemu guest keeps an unreachable full /proc of its initramfs")
	}
	e := newEnv(t)
	caps := []string{"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_SETFCAP"}
	b := e.bundle([]string{"sh", "-c", "unshare -mrpf true && echo UNSHARE-OK; " +
		"unshare -mrpf sh -c 'mount -t proc none /proc' 2>/dev/null && echo MOUNTED; test -r /proc/self/status && echo OWN-PROC"}, func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	})
	out, _, code := e.berth("run", "--no-pivot", "--bundle", b, "h4-nopivot")
	if code != 0 || out != "UNSHARE-OK\nOWN-PROC\n" {
		t.Fatalf("exit %d: %q, want unshare to work, the proc mount refused, and the container's own /proc", code, out)
	}
	for _, p := range []string{"/proc/self/status", "/sys/kernel"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the host lost %s: %v", p, err)
		}
	}
}
