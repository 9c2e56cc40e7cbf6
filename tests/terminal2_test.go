package tests

import (
	"bytes"
	"os"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// readAll reads what the container wrote on its terminal until the last
// slave closes (EIO) or the deadline.
func readAll(t *testing.T, got <-chan *os.File) []byte {
	t.Helper()
	var master *os.File
	select {
	case master = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no terminal arrived on the console socket")
	}
	defer master.Close()
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.Bytes()
		}
	}
}

// The pty belongs to the process's user and to the tty group (gid 5, from
// devpts' gid=5), as runc leaves it, for run and exec. A terminal sent to
// --console-socket keeps ONLCR (CR LF), as runc leaves it for its receiver.
func TestTerminalOwnerOnConsoleSocket(t *testing.T) {
	e := newEnv(t)
	// The sleep keeps the slave open until the receiver has read: Linux may
	// drop what a closed pty's master has not read yet.
	const script = "stat -L -c '%u:%g' /proc/self/fd/0; printf 'a\\nb\\n'; sleep 1"
	b := e.bundle([]string{"sh", "-c", script}, asUser(1000, 1000), func(s *specs.Spec) {
		s.Process.Terminal = true
	})
	sock, got := receiveConsole(t)
	e.mustBerth("run", "--detach", "--console-socket", sock, "--bundle", b, "h7-tty-1")
	if out := readAll(t, got); string(out) != "1000:5\r\na\r\nb\r\n" {
		t.Errorf("run: terminal output %q, want owner 1000, group tty (5), CR LF as in runc", out)
	}
	e.mustBerth("delete", "--force", "h7-tty-1")

	e.editSpec(b, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sleep", "1000"}
	})
	e.mustBerth("run", "--detach", "--bundle", b, "h7-tty-2")
	e.waitStatus("h7-tty-2", "running")
	sock, got = receiveConsole(t)
	e.mustBerth("exec", "--tty", "--detach", "--console-socket", sock, "--user", "1001:1002", "h7-tty-2", "sh", "-c", script)
	if out := readAll(t, got); string(out) != "1001:5\r\na\r\nb\r\n" {
		t.Errorf("exec: terminal output %q, want owner 1001, group tty (5)", out)
	}
}

// berth run and exec in the foreground, which receive the terminal
// themselves, clear ONLCR on it as runc does: what the container wrote
// reaches berth's stdout with bare LF, not CR LF.
func TestForegroundTerminalHasNoCRLF(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"printf", "a\\nb\\n"}, func(s *specs.Spec) { s.Process.Terminal = true })
	if out, errs, code := e.berth("run", "--bundle", b, "h7-crlf-1"); code != 0 || out != "a\nb\n" {
		t.Errorf("run: stdout %q (exit %d, %s), want \"a\\nb\\n\"", out, code, errs)
	}
	e.editSpec(b, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sleep", "1000"}
	})
	e.mustBerth("run", "--detach", "--bundle", b, "h7-crlf-2")
	e.waitStatus("h7-crlf-2", "running")
	if out, errs, code := e.berth("exec", "--tty", "h7-crlf-2", "printf", "a\\nb\\n"); code != 0 || out != "a\nb\n" {
		t.Errorf("exec: stdout %q (exit %d, %s), want \"a\\nb\\n\"", out, code, errs)
	}
}
