package tests

import (
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
// user.overlay.opaque. run and create --image are refused in one line
// before anything is written; image rm removes every layer again.
func TestImageRootlessPull(t *testing.T) {
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
	for _, c := range [][]string{{"run", "--image", "h17/rl:v1", "h17-rl-img", "true"}, {"create", "--image", "h17/rl:v1", "h17-rl-img"}} {
		out, errs, code := u.berthEnv(env, u.home, c...)
		if code == 0 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "--image: running images as a non-root user is not supported yet") {
			t.Errorf("%v as %s: exit %d, stdout %q, stderr %q; want one line refusing it", c, u.name, code, out, errs)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(data, "berth", "containers")); len(left) != 0 {
		t.Errorf("a refused --image left bundles: %v", left)
	}
	if _, err := os.Stat(u.stateDir("h17-rl-img")); !os.IsNotExist(err) {
		t.Errorf("a refused run left state: %v", err)
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
