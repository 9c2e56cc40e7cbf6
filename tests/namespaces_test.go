package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// newNetns makes a named network namespace holding a veth "berthv0",
// removed at cleanup.
func newNetns(t *testing.T) string {
	t.Helper()
	name := "berth-test-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "add", "berthv0", "type", "veth", "peer", "name", "berthv1").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	return "/var/run/netns/" + name
}

func setNSPath(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

func TestNewNetworkNamespaceHasOnlyLoopbackUp(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "ip -o link | cut -d: -f2; ip -o link show lo | grep -c UP"})
	out, code := e.run("netnew", b)
	if code != 0 || strings.Fields(out)[0] != "lo" || len(strings.Fields(out)) != 2 || strings.Fields(out)[1] != "1" {
		t.Fatalf("want only lo, up; got %q (exit %d)", out, code)
	}
	// The namespace the parent makes for init (libcontainer/netns_linux.go)
	// is the container's: sysfs, mounted in it, lists only lo; it is not
	// the host's; an exec'd process is in the same one.
	host, _ := os.Readlink("/proc/self/ns/net")
	startSleeper(e, "netns")
	in := strings.Fields(e.mustBerth("exec", "netns", "sh", "-c", "ls /sys/class/net; readlink /proc/self/ns/net; readlink /proc/1/ns/net"))
	if len(in) != 3 || in[0] != "lo" || in[1] == host || in[1] != in[2] {
		t.Fatalf("/sys/class/net, exec's and init's network namespace: %q; host's is %s", in, host)
	}
	e.mustBerth("delete", "--force", "netns")
}

func TestJoinNetworkNamespaceByPath(t *testing.T) {
	e := newEnv(t)
	path := newNetns(t)
	b := e.bundle([]string{"sh", "-c", "ip -o link | grep -c berthv0@"}, func(s *specs.Spec) {
		setNSPath(s, specs.NetworkNamespace, path)
	})
	if out, code := e.run("netjoin", b); code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("container does not see the joined namespace's veth: %q (exit %d)", out, code)
	}
}

func TestJoinMissingNamespaceIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		setNSPath(s, specs.NetworkNamespace, "/var/run/netns/berth-no-such-ns")
	})
	e.expectRefused([]string{"berth-no-such-ns", "no such file"}, "run", "--bundle", b, "nsmissing")
	e.assertNothingLeft("nsmissing", "", b)
}

func TestUserNamespaceMapsRoot(t *testing.T) {
	e := newEnv(t)
	userns := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	}
	script := "id -u; tr -s ' ' < /proc/self/uid_map; touch /tmp/f && stat -c %u /tmp/f"
	// Go's clone path (all namespaces new) and the nsenter path (one joined).
	for name, edits := range map[string][]func(*specs.Spec){
		"new":        {userns},
		"joined-net": {userns, func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, newNetns(t)) }},
	} {
		b := e.bundle([]string{"sh", "-c", script}, append(edits, func(s *specs.Spec) { s.Root.Readonly = false })...)
		// The namespace's root is host uid 200000: it must reach the rootfs.
		os.Chmod(b, 0o755)
		os.Chmod(filepath.Dir(b), 0o755)
		os.Chown(filepath.Join(b, "rootfs", "tmp"), 200000, 200000)
		out, code := e.run("userns-"+name, b)
		f := strings.Fields(out)
		if code != 0 || len(f) != 5 || f[0] != "0" || f[2] != "200000" || f[4] != "0" {
			t.Errorf("%s: want uid 0 mapped to 200000 and files owned by 0; got %q (exit %d)", name, out, code)
		}
	}
}

func TestTimeNamespaceOffsets(t *testing.T) {
	e := newEnv(t)
	const year = 365 * 24 * 3600
	b := e.bundle([]string{"cut", "-d.", "-f1", "/proc/uptime"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: year}}
	})
	out, code := e.run("timens", b)
	up, err := strconv.Atoi(strings.TrimSpace(out))
	if code != 0 || err != nil || up < year {
		t.Fatalf("uptime in the container %q (exit %d), want at least a year", out, code)
	}
}

func TestUTSAndIPCAreIsolated(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sh", "-c", "hostname changed-inside && hostname; ls /dev/mqueue | wc -l"}, func(s *specs.Spec) {
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_SYS_ADMIN")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_SYS_ADMIN")
	})
	before, _ := os.Hostname()
	out, code := e.run("uts", b)
	if code != 0 || !strings.HasPrefix(out, "changed-inside") {
		t.Fatalf("hostname inside: %q (exit %d)", out, code)
	}
	if after, _ := os.Hostname(); after != before {
		t.Fatalf("host hostname changed from %q to %q", before, after)
	}
}

// Without a mount namespace of its own, the container shares the host's
// mount table (as the runtime spec says, and as runc does): its mounts are
// there while it runs, and delete removes every one of them.
func TestNoMountNamespace(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "1000"}, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.MountNamespace && n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	rootfsDir := filepath.Join(b, "rootfs")
	e.mustBerth("run", "-d", "--bundle", b, "nomntns")
	if n := mountsMentioning(t, rootfsDir); n == 0 {
		t.Fatal("no mount of the container in the host's table: it has a mount namespace after all")
	}
	if out := e.mustBerth("exec", "nomntns", "ls", "/"); !strings.Contains(out, "bin") || strings.Contains(out, "work") {
		t.Fatalf("exec'd process's root: %q, want the container's rootfs", out)
	}
	e.mustBerth("delete", "--force", "nomntns")
	if n := mountsMentioning(t, rootfsDir); n != 0 {
		t.Fatalf("%d mounts under the rootfs left in the host's table after delete", n)
	}
}
