package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// devProbe tries each device the way a workload would and prints one line
// per try. mknod of a device works (c/b *:* m); opening it does not.
const devProbe = `probe() {
  for t in "kmsg-r </dev/kmsg" "kmsg-w >/dev/kmsg" "null-w >/dev/null" "zero-r </dev/zero" \
    "full-r </dev/full" "random-r </dev/random" "urandom-r </dev/urandom" "ptmx-r </dev/ptmx"; do
    set -- $t; if (eval ": $2") 2>/dev/null; then echo "$1 ok"; else echo "$1 denied"; fi
  done
  rm -f /dev/twin; if mknod /dev/twin c 1 11; then echo "mknod ok"; else echo "mknod denied"; fi
  if (: </dev/twin) 2>/dev/null; then echo "twin-r ok"; else echo "twin-r denied"; fi
}
`

// What runc 1.1.5 gives the same spec (checked side by side).
const devProbeWant = "kmsg-r denied\nkmsg-w denied\nnull-w ok\nzero-r ok\nfull-r ok\nrandom-r ok\n" +
	"urandom-r ok\nptmx-r ok\nmknod ok\ntwin-r denied\n"

// denyAllWithKmsg is issue 17's spec: every device denied, /dev/kmsg
// listed in linux.devices, CAP_SYSLOG (so only the device cgroup stands
// between the workload and the kernel log) and CAP_MKNOD.
func denyAllWithKmsg(s *specs.Spec) {
	s.Root.Readonly = false
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	major, minor := int64(1), int64(11)
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/kmsg", Type: "c", Major: major, Minor: minor}}
	c := s.Process.Capabilities
	for _, cp := range []string{"CAP_SYSLOG", "CAP_MKNOD"} {
		c.Bounding, c.Effective, c.Permitted = append(c.Bounding, cp), append(c.Effective, cp), append(c.Permitted, cp)
	}
}

// A device listed in linux.devices is not allowed when
// linux.resources.devices denies it: not to init, not to exec, not after
// an update; the default devices and mknod still work.
func TestDevicesListedDeviceStaysDenied(t *testing.T) {
	e := newEnv(t)
	// init probes, then waits for the go-ahead (after the update) and
	// probes again; its results land in the rootfs, read from the host.
	script := devProbe + `probe > /tmp/init-1; while [ ! -e /tmp/go ]; do sleep 0.05; done; probe > /tmp/init-2; sleep 1000`
	b := e.bundle([]string{"sh", "-c", script}, denyAllWithKmsg)
	const id = "h5-dev-listed"
	e.mustBerth("run", "-d", "--bundle", b, id)
	tmp := filepath.Join(b, "rootfs", "tmp")
	waitFile(t, filepath.Join(tmp, "init-1"), devProbeWant)

	if list := devicesList(id); list != "" && strings.Contains(list, "1:11") {
		t.Errorf("devices.list holds the listed device:\n%s", list)
	}
	if out := e.mustBerth("exec", id, "sh", "-c", devProbe+"probe"); out != devProbeWant {
		t.Errorf("exec before update:\n%s\nwant:\n%s", out, devProbeWant)
	}
	e.mustBerth("update", "--pids-limit", "42", id)
	if out := e.mustBerth("exec", id, "sh", "-c", devProbe+"probe"); out != devProbeWant {
		t.Errorf("exec after update:\n%s\nwant:\n%s", out, devProbeWant)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(tmp, "init-2"), devProbeWant)
	if list := devicesList(id); list != "" && strings.Contains(list, "1:11") {
		t.Errorf("devices.list after update holds the listed device:\n%s", list)
	}
	e.mustBerth("delete", "--force", id)
}

// The spec's own rule is what grants a listed device, and an access string
// with a letter other than r, w, m (runc's tests write "rwa") keeps its
// r and w, at create and through update alike.
func TestDevicesAccessWithOtherLetters(t *testing.T) {
	e := newEnv(t)
	major, minor := int64(1), int64(11)
	b := e.bundle([]string{"sleep", "1000"}, denyAllWithKmsg, func(s *specs.Spec) {
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwa"})
	})
	const id = "h5-dev-rwa"
	e.mustBerth("run", "-d", "--bundle", b, id)
	probe := "if (: </dev/kmsg) 2>/dev/null; then echo r-ok; fi; if (: >/dev/null) 2>/dev/null; then echo null-ok; fi"
	for _, step := range []string{"create", "update"} {
		if step == "update" {
			e.mustBerth("update", "--pids-limit", "50", id)
		}
		if out := e.mustBerth("exec", id, "sh", "-c", probe); out != "r-ok\nnull-ok\n" {
			t.Errorf("after %s: %q; want kmsg readable (rwa is rw)", step, out)
		}
		if list := devicesList(id); list != "" && !strings.Contains(list, "c 1:11 rw\n") {
			t.Errorf("after %s: devices.list:\n%s\nwant c 1:11 rw", step, list)
		}
	}
	e.mustBerth("delete", "--force", id)
	// No r, w or m at all: refused at create, naming the field.
	bad := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "xa"}}
	})
	_, errs, code := e.berth("run", "--bundle", bad, "h5-dev-bad")
	if code == 0 || !strings.Contains(errs, "linux.resources.devices[0]: access") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("access \"xa\": exit %d, %q; want one line naming linux.resources.devices[0]", code, errs)
	}
}

// devicesList is the container's v1 devices.list, "" on a host without one.
func devicesList(id string) string {
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/devices", id, "devices.list"))
	if err != nil {
		return ""
	}
	return string(data)
}

// waitFile waits for path to hold want (the workload writes it).
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if string(data) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s\nwant:\n%s", filepath.Base(path), data, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
