package tests

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	os.WriteFile(filepath.Join(hostDir, "inner"), []byte(secret+"\n"), 0o644)
	hostFile := filepath.Join(hostDir, "inner")
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
		os.WriteFile(filepath.Join(data, "d"+n, "inner"), []byte("image\n"), 0o644)
		os.Symlink(hostDir, filepath.Join(data, "ld"+n))
	}
	dir, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fd := int(dir.Fd())
		for !stop.Load() {
			for i := 0; i < pairs; i++ {
				n := itoa(i)
				unix.Renameat2(fd, "f"+n, fd, "lf"+n, unix.RENAME_EXCHANGE)
				unix.Renameat2(fd, "d"+n, fd, "ld"+n, unix.RENAME_EXCHANGE)
			}
		}
	}()
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
		}
	}
	if ran == 0 {
		t.Fatal("no run reached the workload: the test proved nothing")
	}
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
