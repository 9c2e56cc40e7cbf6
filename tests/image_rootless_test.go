package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestImageRootlessPull: a non-root user's image pull unpacks the layers
// into $XDG_DATA_HOME/berth as root of a user namespace mapped as its
// containers are (0 -> the user, 1.. -> its /etc/subuid range): a file the
// image gives uid/gid 1000 is owned by subuid-start+999 on the host, a
// device node is an empty file, an opaque directory is marked with
// user.overlay.opaque. run --image runs it in the user's automatic user
// namespace, its rootfs an overlay made there; delete removes the upper
// dir with the container's files; image rm removes every layer again.
func TestImageRootlessPull(t *testing.T) {
	if kernelBefore(6, 10) {
		// A hard link in a layer is made with linkat(AT_EMPTY_PATH), which
		// needs CAP_DAC_READ_SEARCH in the host's user namespace before 6.10.
		t.Skip("rootless unpacking of hard links needs Linux 6.10")
	}
	u := newRootlessUser(t)
	lay := writeLayout(t, testImage(t), "v1")
	dst := filepath.Join(u.home, "layout")
	if out, err := exec.Command("cp", "-a", lay, dst).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	if out, err := exec.Command("chown", "-R", u.name, dst).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	data := filepath.Join(u.home, "xdg-data")
	env := []string{"XDG_RUNTIME_DIR=" + u.runtimeDir, "XDG_DATA_HOME=" + data}
	out, errs, code := u.berthEnv(env, u.home, "image", "pull", "oci:"+dst+":v1", "h17/rl:v1")
	if code != 0 || !strings.Contains(out, "\nh17/rl:v1 sha256:") {
		t.Fatalf("pull as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	if out, _, _ := u.berthEnv(env, u.home, "image", "ls"); !strings.Contains(out, "h17/rl:v1") {
		t.Errorf("image ls as %s: %q", u.name, out)
	}
	layers, _ := filepath.Glob(filepath.Join(data, "berth", "layers", "sha256", "*"))
	var app, null, dataDir string
	for _, l := range layers {
		if _, err := os.Lstat(filepath.Join(l, "home", "app")); err == nil {
			app, null = filepath.Join(l, "home", "app"), filepath.Join(l, "etc", "null")
		}
		if _, err := os.Lstat(filepath.Join(l, "data", "b")); err == nil {
			dataDir = filepath.Join(l, "data")
		}
	}
	if app == "" || dataDir == "" {
		t.Fatalf("layers %v: no home/app or data/b", layers)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(app, &st); err != nil || st.Uid != u.subUID+999 || st.Gid != u.subGID+999 {
		t.Errorf("home/app (1000:1000 in the image) is %d:%d on the host (%v), want %d:%d", st.Uid, st.Gid, err, u.subUID+999, u.subGID+999)
	}
	if err := syscall.Lstat(filepath.Join(filepath.Dir(app), "..", "bin", "busybox"), &st); err != nil || st.Uid != uint32(u.uid) {
		t.Errorf("bin/busybox (0:0 in the image) is owned by %d (%v), want the user %d", st.Uid, err, u.uid)
	}
	if err := syscall.Lstat(null, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size != 0 {
		t.Errorf("etc/null (a device in the image): mode %o size %d (%v), want an empty file", st.Mode, st.Size, err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(dataDir, "user.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque data/: user.overlay.opaque %q %v", buf[:n], err)
	}
	out, errs, code = u.berthEnv(env, u.home, "run", "--image", "h17/rl:v1", "h17-rl-img", "sh", "-c",
		"cat /etc/msg.txt; ls /data; id -u; stat -c %u /home/app; cat /proc/self/uid_map | tr -s ' '; echo x > /home/app/new")
	norm := strings.Join(strings.Fields(out), " ")
	if want := fmt.Sprintf("new b 1000 1000 0 %d 1 1 %d 65536", u.uid, u.subUID); code != 0 || norm != want {
		t.Fatalf("run --image as %s: exit %d, stdout %q (want %q), stderr %q", u.name, code, norm, want, errs)
	}
	// An image without a User runs as uid 0 of the container (the user).
	lay2 := filepath.Join(u.home, "layout2")
	if out, err := exec.Command("cp", "-a", writeLayout(t, httpdImage(t), "v1"), lay2).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	exec.Command("chown", "-R", u.name, lay2).Run()
	if out, errs, code := u.berthEnv(env, u.home, "image", "pull", "oci:"+lay2+":v1", "h17/rlroot:v1"); code != 0 {
		t.Fatalf("pull as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	if out, errs, code := u.berthEnv(env, u.home, "run", "--image", "h17/rlroot:v1", "h17-rl-root", "sh", "-c", "id -u"); code != 0 || out != "0\n" {
		t.Errorf("run --image of an image without User as %s: exit %d, %q %q; want id -u 0", u.name, code, out, errs)
	}
	if out, errs, code := u.berthEnv(env, u.home, "image", "rm", "h17/rlroot:v1"); code != 0 {
		t.Errorf("image rm as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	// create, start, delete: the container's writes (as its uid 1000) are
	// in its upper dir, owned by subuid-start+999; delete removes them.
	id := "h17-rl-img2"
	if out, errs, code := u.berthEnv(env, u.home, "create", "--image", "h17/rl:v1", id, "sh", "-c", "echo hi > /home/app/new2"); code != 0 {
		t.Fatalf("create --image as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	u.mustBerth(u.home, "start", id)
	newFile := filepath.Join(data, "berth", "containers", id, "upper", "home", "app", "new2")
	waitFor(t, 5*time.Second, "the container's write in its upper dir", func() bool {
		b, _ := os.ReadFile(newFile)
		return string(b) == "hi\n"
	})
	if err := syscall.Lstat(newFile, &st); err != nil || st.Uid != u.subUID+999 {
		t.Errorf("the container's file is owned by %d (%v), want %d", st.Uid, err, u.subUID+999)
	}
	time.Sleep(200 * time.Millisecond)
	if out, errs, code := u.berth(u.home, "delete", "--force", id); code != 0 {
		t.Errorf("delete as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "berth", "containers")); len(left) != 0 {
		t.Errorf("bundles left after delete: %v", left)
	}
	for _, c := range []string{"h17-rl-img", id} {
		if _, err := os.Stat(u.stateDir(c)); !os.IsNotExist(err) {
			t.Errorf("state of %s left: %v", c, err)
		}
	}
	if out, errs, code := u.berthEnv(env, u.home, "image", "rm", "h17/rl:v1"); code != 0 {
		t.Errorf("image rm as %s: exit %d: %q %q", u.name, code, out, errs)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "berth", "layers", "sha256")); len(left) != 0 {
		t.Errorf("image rm left %d layers", len(left))
	}
	if waitUntil(2*time.Second, func() bool { return len(u.processes()) == 0 }); len(u.processes()) > 0 {
		t.Errorf("processes of %s left: %v", u.name, u.processes())
	}
}

// kernelBefore reports whether the running kernel is older than major.minor.
func kernelBefore(major, minor int) bool {
	var u unix.Utsname
	unix.Uname(&u)
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma < major || ma == major && mi < minor
}
