package tests

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// notifyMsg is one datagram systemd's stand-in received, and when.
type notifyMsg struct {
	at   time.Time
	text string
}

// fakeSystemd listens on a unix datagram socket, as systemd does for a
// unit's NOTIFY_SOCKET, and delivers what arrives.
func fakeSystemd(t *testing.T) (string, <-chan notifyMsg) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan notifyMsg, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := l.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- notifyMsg{time.Now(), string(buf[:n])}
		}
	}()
	return path, ch
}

// notifyBundle is a bundle whose rootfs has /bin/sdnotify.
func notifyBundle(e *env, args []string, edits ...func(*specs.Spec)) string {
	e.t.Helper()
	b := e.bundle(args, edits...)
	cmd := exec.Command("go", "build", "-o", filepath.Join(b, "rootfs", "bin", "sdnotify"), "./testdata/sdnotify")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("build sdnotify: %v: %s", err, out)
	}
	return b
}

// waitNotify returns the first message containing want, failing after 20 s.
func waitNotify(t *testing.T, ch <-chan notifyMsg, want string, seen *[]string) notifyMsg {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("notify socket closed before %q (seen %q)", want, *seen)
			}
			*seen = append(*seen, m.text)
			if strings.Contains(m.text, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q from berth in 20 s (seen %q)", want, *seen)
		}
	}
}

// `run -d` under NOTIFY_SOCKET returns only after the workload's READY=1,
// which reaches systemd no earlier than the workload sent it, with MAINPID=
// the workload's host pid; STATUS= is forwarded too (runc drops it).
func TestNotifyReadyFromTheWorkload(t *testing.T) {
	e := newEnv(t)
	sock, msgs := fakeSystemd(t)
	b := notifyBundle(e, []string{"sh", "-c", "sdnotify STATUS=starting; sleep 1.5; sdnotify READY=1 STATUS=serving; exec sleep 60"})
	cmd := newBerthCmd(e, "run", "-d", "--bundle", b, "notify-d")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	// Output through a file: the detached workload inherits it and would
	// hold a pipe open.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		data, _ := os.ReadFile(out.Name())
		t.Fatalf("run -d: %v: %s", err, data)
	}
	returned := time.Now()
	if d := returned.Sub(start); d < 1500*time.Millisecond {
		t.Errorf("run -d returned after %v, before the workload's READY=1 (1.5 s)", d)
	}
	var seen []string
	status := waitNotify(t, msgs, "STATUS=starting", &seen)
	ready := waitNotify(t, msgs, "READY=1", &seen)
	if d := ready.at.Sub(start); d < 1500*time.Millisecond {
		t.Errorf("READY=1 reached systemd %v after run began, before the workload sent it", d)
	}
	if status.at.After(ready.at) || strings.Contains(status.text, "READY") {
		t.Errorf("STATUS before READY: %q", seen)
	}
	pid := int(e.state("notify-d")["pid"].(float64))
	if !strings.Contains(ready.text, "MAINPID="+strconv.Itoa(pid)+"\n") || !strings.Contains(ready.text, "STATUS=serving") {
		t.Errorf("READY message %q: want MAINPID=%d and STATUS=serving", ready.text, pid)
	}
	// The workload's own view: NOTIFY_SOCKET names a socket inside.
	if out := e.mustBerth("exec", "notify-d", "sh", "-c", "test -S \"$NOTIFY_SOCKET\" && echo $NOTIFY_SOCKET"); !strings.HasPrefix(out, "/run/") {
		t.Errorf("workload's NOTIFY_SOCKET: %q", out)
	}
	e.mustBerth("delete", "--force", "notify-d")
}

// A foreground `run` forwards for the workload's whole life (without
// MAINPID: berth stays the main process), and SIGTERM
// sent to berth (what `systemctl stop` does) reaches the workload, whose
// exit code becomes berth's.
func TestNotifyForegroundAndSIGTERM(t *testing.T) {
	e := newEnv(t)
	sock, msgs := fakeSystemd(t)
	b := notifyBundle(e, []string{"sh", "-c", `trap "exit 42" TERM; sdnotify READY=1; while :; do sdnotify WATCHDOG=1; sleep 0.2; done`})
	cmd := newBerthCmd(e, "run", "--bundle", b, "notify-fg")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	var seen []string
	ready := waitNotify(t, msgs, "READY=1", &seen)
	// berth stays the unit's main process: its exit code is the workload's.
	if strings.Contains(ready.text, "MAINPID=") {
		t.Errorf("foreground READY message names another main process: %q", ready.text)
	}
	waitNotify(t, msgs, "WATCHDOG=1", &seen)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("berth did not exit after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		data, _ := os.ReadFile(out.Name())
		t.Errorf("berth exited %d after SIGTERM, want the workload's 42 (%s)", code, data)
	}
}

// Under systemd (JOURNAL_STREAM names berth's stdout), a foreground run
// relays the workload's output through berth, so that journald files it
// under the unit (the container's cgroup is not the unit's); the bytes
// arrive unchanged. Without it the workload writes to berth's stdout itself.
func TestJournalStreamIsRelayed(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "printf 'line one\\nfd1=%s\\n' \"$(readlink /proc/$$/fd/1)\"; echo to-stderr >&2"})
	for _, journal := range []bool{true, false} {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := os.NewFile(uintptr(fds[0]), "journal"), os.NewFile(uintptr(fds[1]), "stream")
		var st syscall.Stat_t
		syscall.Fstat(fds[1], &st)
		cmd := newBerthCmd(e, "run", "--bundle", b, "journal-relay")
		cmd.Stdout, cmd.Stderr = theirs, theirs
		cmd.Env = os.Environ()
		if journal {
			cmd.Env = append(cmd.Env, "JOURNAL_STREAM="+strconv.FormatUint(st.Dev, 10)+":"+strconv.FormatUint(st.Ino, 10))
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		theirs.Close()
		got := make(chan string)
		go func() {
			data, _ := io.ReadAll(ours)
			got <- string(data)
		}()
		if err := cmd.Wait(); err != nil {
			t.Errorf("journal=%v: run: %v", journal, err)
		}
		var out string
		select {
		case out = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("journal=%v: the stream was not closed", journal)
		}
		ours.Close()
		if !strings.Contains(out, "line one\n") || !strings.Contains(out, "to-stderr\n") {
			t.Errorf("journal=%v: output %q lost a line", journal, out)
		}
		if pipe := strings.Contains(out, "fd1=pipe:"); pipe != journal {
			t.Errorf("journal=%v: the workload's stdout: %q", journal, out)
		}
	}
}
