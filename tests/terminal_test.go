package tests

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// receiveConsole listens on a unix socket and returns the first fd sent to
// it with SCM_RIGHTS, as containerd's and runc's recvtty do.
func receiveConsole(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) == 1 {
			if fds, _ := unix.ParseUnixRights(&msgs[0]); len(fds) == 1 {
				ch <- os.NewFile(uintptr(fds[0]), "pty-master")
			}
		}
	}()
	return path, ch
}

func TestConsoleSocketReceivesTerminal(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "tty; test -t 0 && test -t 1 && echo STDIO-IS-TTY; sleep 2"}, func(s *specs.Spec) {
		s.Process.Terminal = true
	})
	sock, got := receiveConsole(t)
	e.mustBerth("create", "--bundle", b, "--console-socket", sock, "tty1")
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no terminal arrived on the console socket")
	}
	defer master.Close()
	e.mustBerth("start", "tty1")
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(master)
	var out strings.Builder
	for !strings.Contains(out.String(), "STDIO-IS-TTY") {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			break
		}
	}
	if !strings.Contains(out.String(), "/dev/pts/0") || !strings.Contains(out.String(), "STDIO-IS-TTY") {
		t.Fatalf("terminal output %q: want /dev/pts/0 and stdio on the tty", out.String())
	}
}

func TestConsoleSocketWithoutTerminalIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	sock, _ := receiveConsole(t)
	e.expectRefused([]string{"--console-socket", "terminal is false"}, "create", "--bundle", b, "--console-socket", sock, "notty")
	e.assertNothingLeft("notty", "", b)
}

func TestPidFileAndPreserveFDs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "cat <&3; echo to-fd-4 >&4; ls /proc/self/fd | sort -n | tr '\\n' ' '"})
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("from-fd-3\n"), 0o644)
	r, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pidFile := filepath.Join(dir, "sub", "..", "init.pid")
	cmdOut, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	cmd := newBerthCmd(e, "run", "--bundle", b, "--preserve-fds", "2", "--pid-file", pidFile, "--keep", "fds")
	cmd.ExtraFiles = []*os.File{r, w}
	cmd.Stdout, cmd.Stderr = cmdOut, cmdOut
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(cmdOut.Name())
		t.Fatalf("run: %v: %s", err, out)
	}
	out, _ := os.ReadFile(cmdOut.Name())
	written, _ := os.ReadFile(filepath.Join(dir, "out"))
	if !strings.Contains(string(out), "from-fd-3") || string(written) != "to-fd-4\n" {
		t.Fatalf("preserved fds: workload printed %q, wrote %q", out, written)
	}
	// 0-2, 3-4 preserved, and the fd ls itself opens: nothing of berth's.
	if fds := strings.Fields(string(out))[1:]; strings.Join(fds, " ") != "0 1 2 3 4 5" {
		t.Errorf("workload's open fds: %v, want 0-4 (+ the one ls opens)", fds)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "init.pid"))
	pid, err := strconv.Atoi(string(data))
	if err != nil || pid <= 1 {
		t.Fatalf("pid file holds %q", data)
	}
	if st := e.state("fds"); int(st["pid"].(float64)) != 0 && int(st["pid"].(float64)) != pid {
		t.Fatalf("pid file %d does not match the state %v", pid, st["pid"])
	}
}

// systemd socket activation: the listening fds berth got (LISTEN_FDS for
// LISTEN_PID == berth's PID) reach the workload as fd 3 on, announced in its
// environment.
func TestSocketActivationFDsPassThrough(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; cat <&3"})
	in := filepath.Join(t.TempDir(), "sock")
	os.WriteFile(in, []byte("from-activation-fd\n"), 0o644)
	// exec keeps the shell's PID, so LISTEN_PID=$$ names berth itself.
	cmd := newBerthCmd(e)
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --root "$1" run --bundle "$2" activated 3<"$3"`, berthBinary, e.root, b, in}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "LISTEN_FDS=1 LISTEN_PID=1") || !strings.Contains(string(out), "from-activation-fd") {
		t.Fatalf("workload saw %q", out)
	}
}

// `run` in the foreground with process.terminal proxies the container's
// terminal to berth's own: what the workload writes reaches the caller's
// tty, and the workload sees a tty on its stdio.
func TestForegroundRunProxiesTerminal(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "test -t 0 && test -t 1 && echo INSIDE-TTY; tty"}, func(s *specs.Spec) {
		s.Process.Terminal = true
	})
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	cmd := newBerthCmd(e, "run", "--bundle", b, "fgtty")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out strings.Builder
	buf := make([]byte, 256)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(out.String(), "/dev/pts/") {
		k, err := master.Read(buf)
		out.Write(buf[:k])
		if err != nil {
			break
		}
	}
	cmd.Wait()
	if !strings.Contains(out.String(), "INSIDE-TTY") || !strings.Contains(out.String(), "/dev/pts/0") {
		t.Fatalf("through the proxied terminal: %q", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
