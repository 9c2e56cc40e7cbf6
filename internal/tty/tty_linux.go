// Package tty proxies a container's terminal to the caller's: raw mode on
// the caller's side, bytes copied both ways, window size kept in step.
package tty

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Proxy copies between the caller's stdio and master until master closes.
type Proxy struct {
	master  *os.File
	restore *unix.Termios
	done    chan struct{}
}

// Start puts stdin in raw mode when it is a terminal and starts copying.
// As runc does for the terminal it receives itself: the container's pty
// writes bare LF (ONLCR off), and the caller's terminal, raw but with
// output processing kept, turns it into CR LF for the screen; so the
// output of `run` or `exec` into a file or a pipe has no CR. (A terminal
// sent to --console-socket keeps ONLCR, as runc leaves it: its receiver,
// a shim or a client with a terminal of its own, may rely on it.)
func Start(master *os.File) *Proxy {
	p := &Proxy{master: master, done: make(chan struct{})}
	ClearONLCR(int(master.Fd())) // best effort: at worst lines end in CR LF
	if t, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		saved := *t
		p.restore = &saved
		raw := *t
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag |= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(0, unix.TCSETS, &raw)
		p.Resize()
	}
	go io.Copy(master, os.Stdin)
	go func() {
		io.Copy(os.Stdout, master)
		close(p.done)
	}()
	return p
}

// Resize copies the caller's window size to the container's terminal.
func (p *Proxy) Resize() {
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Close waits for the container's output to drain and restores the caller's
// terminal.
func (p *Proxy) Close() {
	<-p.done
	p.master.Close()
	if p.restore != nil {
		unix.IoctlSetTermios(0, unix.TCSETS, p.restore)
	}
}

// ClearONLCR turns off the NL to CR-NL translation of a terminal (on a pty
// master: of its slave), so that its reader gets the bytes the program
// wrote.
func ClearONLCR(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl TCGETS", err)
	}
	t.Oflag &^= unix.ONLCR
	return os.NewSyscallError("ioctl TCSETS", unix.IoctlSetTermios(fd, unix.TCSETS, t))
}
