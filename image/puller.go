package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The image puller (image/cmd/berth-pull: go-containerregistry, net/http,
// TLS, archive/tar, compression) is a program of its own, appended to the
// berth file after the ELF image that is berth: past the end of every
// segment the kernel maps, so a container start maps none of it. The
// Makefile appends it (berth-pull --append-to berth); the last TrailerSize
// bytes of the file are PullerMagic, then its offset and length (uint64,
// little-endian).
const (
	PullerMagic = "berth-image-pull"
	TrailerSize = len(PullerMagic) + 16
)

// ErrNoPuller is a berth built without its puller (plain `go build`).
var ErrNoPuller = errors.New("this berth was built without its image puller (build it with make)")

// FindAppended returns the offset and length of the program appended to f,
// or ErrNoPuller.
func FindAppended(f *os.File) (off, n int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if st.Size() < int64(TrailerSize) {
		return 0, 0, ErrNoPuller
	}
	t := make([]byte, TrailerSize)
	if _, err := f.ReadAt(t, st.Size()-int64(TrailerSize)); err != nil {
		return 0, 0, err
	}
	if string(t[:len(PullerMagic)]) != PullerMagic {
		return 0, 0, ErrNoPuller
	}
	off = int64(binary.LittleEndian.Uint64(t[len(PullerMagic):]))
	n = int64(binary.LittleEndian.Uint64(t[len(PullerMagic)+8:]))
	if off < 0 || n <= 0 || off+n > st.Size()-int64(TrailerSize) {
		return 0, 0, fmt.Errorf("the image puller appended to berth is damaged: rebuild berth")
	}
	return off, n, nil
}

// RunPuller runs the appended puller with args, its stdio berth's, and
// returns its exit code. It is copied into a memfd and executed from there;
// SIGINT and SIGTERM are passed on, so that it removes what it started.
func RunPuller(args []string) (int, error) {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return 1, fmt.Errorf("image puller: %w", err)
	}
	defer exe.Close()
	off, n, err := FindAppended(exe)
	if err != nil {
		return 1, err
	}
	mfd, err := unix.MemfdCreate("berth-pull", unix.MFD_CLOEXEC)
	if err != nil {
		return 1, fmt.Errorf("image puller: memfd: %w", err)
	}
	mem := os.NewFile(uintptr(mfd), "berth-pull")
	defer mem.Close()
	if _, err := io.Copy(mem, io.NewSectionReader(exe, off, n)); err != nil {
		return 1, fmt.Errorf("image puller: %w", err)
	}
	cmd := exec.Command("/proc/self/fd/"+strconv.Itoa(mfd), args...)
	cmd.Args[0] = "berth-pull"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("image puller: %w", err)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("image puller: %w", err)
	}
	return 0, nil
}
