package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImageRootlessRefused: a non-root user's image pull and run --image
// are refused in one line that says why, before anything is written: no
// store under $XDG_DATA_HOME/berth, no container state, no process.
// (Ownership is not yet shifted into the user's subordinate ids, issue 16.)
func TestImageRootlessRefused(t *testing.T) {
	u := newRootlessUser(t)
	lay := writeLayout(t, httpdImage(t), "v1")
	dst := filepath.Join(u.home, "layout")
	if out, err := exec.Command("cp", "-a", lay, dst).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	if out, err := exec.Command("chown", "-R", u.name, dst).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	data := filepath.Join(u.home, "xdg-data")
	for _, c := range []struct {
		what string
		args []string
	}{
		{"image pull", []string{"image", "pull", "oci:" + dst + ":v1", "h17/one:v1"}},
		{"--image", []string{"run", "--image", "h17/one:v1", "h17-rl-img", "true"}},
		{"--image", []string{"create", "--image", "h17/one:v1", "h17-rl-img"}},
	} {
		out, errs, code := u.berthEnv([]string{"XDG_RUNTIME_DIR=" + u.runtimeDir, "XDG_DATA_HOME=" + data}, u.home, c.args...)
		if code == 0 || out != "" || strings.Count(errs, "\n") != 1 ||
			!strings.Contains(errs, c.what+": images are not supported for a non-root user") {
			t.Errorf("%v as %s: exit %d, stdout %q, stderr %q; want one line refusing %s", c.args, u.name, code, out, errs, c.what)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused pull made the store %s: %v", data, err)
	}
	if _, err := os.Stat(u.stateDir("h17-rl-img")); !os.IsNotExist(err) {
		t.Errorf("a refused run left state: %v", err)
	}
	if waitUntil(2*time.Second, func() bool { return len(u.processes()) == 0 }); len(u.processes()) > 0 {
		ps := u.processes()
		t.Errorf("processes of %s left: %v", u.name, ps)
	}
}
