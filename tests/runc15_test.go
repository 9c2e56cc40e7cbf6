package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestRunc15RefusesUnimplemented: a setting berth cannot honour is refused
// with one line naming the field, never ignored (the container would run
// without it), and nothing is left behind.
func TestRunc15RefusesUnimplemented(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		want []string
		edit func(*specs.Spec)
	}{
		{"idmap-uid-only", []string{"mounts[", "gidMappings"}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"bind"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}})
		}},
		{"idmap-not-bind", []string{"mounts[", "bind"}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"idmap"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
				GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}})
		}},
		{"idmap-no-mapping", []string{"mounts[", "idmap", "user namespace"}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"rbind", "ridmap"}})
		}},
		{"idmap-bad-mapping", []string{"mounts[", "uidMappings[0]: size is 0"}, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"bind"},
				UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000}},
				GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1}}})
		}},
		{"intelrdt", []string{"linux.intelRdt"}, func(s *specs.Spec) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "h13"}
		}},
		{"mountlabel", []string{"linux.mountLabel"}, func(s *specs.Spec) {
			s.Linux.MountLabel = "system_u:object_r:container_file_t:s0"
		}},
		{"personality-flags", []string{"linux.personality.flags"}, func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE", "NO_SUCH_FLAG"}}
		}},
		{"rdma", []string{"linux.resources.rdma"}, func(s *specs.Spec) {
			one := uint32(1)
			if s.Linux.Resources == nil {
				s.Linux.Resources = &specs.LinuxResources{}
			}
			s.Linux.Resources.Rdma = map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: &one}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "rdma" && hostHasCgroupController("rdma") {
				t.Skip("the host has an rdma controller: its limits are applied, not refused")
			}
			b := e.bundle([]string{"true"}, c.edit)
			id := "h13-refuse-" + c.name
			e.expectRefused(c.want, "run", "--bundle", b, id)
			e.assertNothingLeft(id, id, b)
		})
	}
}

func hostHasCgroupController(name string) bool {
	data, _ := os.ReadFile("/proc/cgroups")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// TestRunc15MemoryPolicy: linux.memoryPolicy reaches the workload (its
// task policy, as /proc/self/numa_maps shows it), for run and exec.
func TestRunc15MemoryPolicy(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, want string
		p          specs.LinuxMemoryPolicy
	}{
		{"bind", " bind:0 ", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}},
		{"interleave", " interleave:0 ", specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0"}},
		{"bind-static", " bind=static:0 ", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}},
		{"preferred", " prefer:0 ", specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred, Nodes: "0"}},
		{"local", " local ", specs.LinuxMemoryPolicy{Mode: specs.MpolLocal}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := e.bundle([]string{"head", "-1", "/proc/self/numa_maps"}, func(s *specs.Spec) { s.Linux.MemoryPolicy = &c.p })
			out, code := e.run("h13-mpol-"+c.name, b)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Errorf("numa_maps %q (exit %d); want %q", out, code, c.want)
			}
		})
	}
	t.Run("exec", func(t *testing.T) {
		b := e.bundle([]string{"sleep", "60"}, func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0"}
		})
		e.mustBerth("run", "-d", "--bundle", b, "h13-mpol-exec")
		out := e.mustBerth("exec", "h13-mpol-exec", "head", "-1", "/proc/self/numa_maps")
		if !strings.Contains(out, " interleave:0 ") {
			t.Errorf("exec numa_maps %q; want interleave:0", out)
		}
		e.mustBerth("delete", "-f", "h13-mpol-exec")
	})
	t.Run("default-unset", func(t *testing.T) {
		b := e.bundle([]string{"head", "-1", "/proc/self/numa_maps"})
		if out, code := e.run("h13-mpol-none", b); code != 0 || !strings.Contains(out, " default ") {
			t.Errorf("numa_maps %q (exit %d); want default", out, code)
		}
	})
}

// TestRunc15MemoryPolicyRefused: bad modes, flags and nodes are refused
// with one line naming linux.memoryPolicy, and leave nothing behind.
func TestRunc15MemoryPolicyRefused(t *testing.T) {
	e := newEnv(t)
	flags := func(f ...specs.MemoryPolicyFlagType) []specs.MemoryPolicyFlagType { return f }
	cases := []struct {
		name string
		want string
		p    specs.LinuxMemoryPolicy
	}{
		{"mode", "linux.memoryPolicy.mode", specs.LinuxMemoryPolicy{Mode: "MPOL_FOO", Nodes: "0"}},
		{"flag", "linux.memoryPolicy.flags", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: flags("MPOL_F_BAR")}},
		{"static-relative", "linux.memoryPolicy.flags", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0",
			Flags: flags(specs.MpolFStaticNodes, specs.MpolFRelativeNodes)}},
		{"syntax", "linux.memoryPolicy.nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-x"}},
		{"range", "linux.memoryPolicy.nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "5000"}},
		{"no-nodes", "linux.memoryPolicy.nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolBind}},
		{"default-nodes", "linux.memoryPolicy", specs.LinuxMemoryPolicy{Mode: specs.MpolDefault, Nodes: "0"}},
		// Node 63 is in range but not on this host: the kernel refuses it.
		{"absent-node", "linux.memoryPolicy", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "63"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := e.bundle([]string{"true"}, func(s *specs.Spec) { s.Linux.MemoryPolicy = &c.p })
			id := "h13-mpolbad-" + c.name
			e.expectRefused([]string{c.want}, "run", "--bundle", b, id)
			e.assertNothingLeft(id, id, b)
		})
	}
}

// pinnedCpusAllowed runs berth pinned to CPU 0 (as `taskset -c 0 berth ...`) and
// returns the Cpus_allowed_list line the workload printed.
func (e *env) pinnedCpusAllowed(args ...string) string {
	e.t.Helper()
	e.noteID(args)
	cmd := exec.Command("taskset", append([]string{"-c", "0", berthBinary, "--root", e.root}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("taskset -c 0 berth %v: %v: %s", args, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Cpus_allowed_list:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "Cpus_allowed_list:"))
		}
	}
	e.t.Fatalf("no Cpus_allowed_list in %q", out)
	return ""
}

// TestRunc15CPUAffinity: the workload does not inherit the caller's CPU
// pinning (its affinity is reset to the container's cpuset, as runc 1.5
// does), and process.execCPUAffinity.final is applied, for run and exec.
func TestRunc15CPUAffinity(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	e := newEnv(t)
	all := "0-" + itoa(runtime.NumCPU()-1)
	status := []string{"grep", "Cpus_allowed_list", "/proc/self/status"}
	b := e.bundle(status)
	if got := e.pinnedCpusAllowed("run", "--bundle", b, "h13-aff-run"); got != all {
		t.Errorf("run under taskset -c 0: workload Cpus_allowed_list %q, want %q (the caller's pinning leaked)", got, all)
	}
	b = e.bundle(status, func(s *specs.Spec) {
		s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "1"}
	})
	if got := e.pinnedCpusAllowed("run", "--bundle", b, "h13-aff-final"); got != "1" {
		t.Errorf("run with execCPUAffinity.final 1: Cpus_allowed_list %q", got)
	}
	b = e.bundle([]string{"sleep", "60"})
	e.mustBerth("run", "-d", "--bundle", b, "h13-aff-exec")
	if got := e.pinnedCpusAllowed(append([]string{"exec", "h13-aff-exec"}, status...)...); got != all {
		t.Errorf("exec under taskset -c 0: Cpus_allowed_list %q, want %q", got, all)
	}
	proc := filepath.Join(t.TempDir(), "process.json")
	data, _ := json.Marshal(specs.Process{Args: status, Cwd: "/", ExecCPUAffinity: &specs.CPUAffinity{Initial: "1", Final: "0"}})
	os.WriteFile(proc, data, 0o644)
	if got := e.pinnedCpusAllowed("exec", "--process", proc, "h13-aff-exec"); got != "0" {
		t.Errorf("exec with execCPUAffinity.final 0: Cpus_allowed_list %q", got)
	}
	e.mustBerth("delete", "-f", "h13-aff-exec")
	b = e.bundle([]string{"true"}, func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0-x"} })
	e.expectRefused([]string{"process.execCPUAffinity.final"}, "run", "--bundle", b, "h13-aff-bad")
	e.assertNothingLeft("h13-aff-bad", "h13-aff-bad", b)
}

// pidfdListener listens on a unix socket in a temp dir and returns its path
// and a channel with what the first connection sent: the message and the
// Pid: line of the received fd's fdinfo, checked to be a live pidfd.
type pidfdMsg struct {
	kind, pid string
	err       error
}

func pidfdListener(t *testing.T) (string, <-chan pidfdMsg) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pidfd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan pidfdMsg, 1)
	go func() {
		ch <- recvPidfd(l)
	}()
	return path, ch
}

func recvPidfd(l net.Listener) pidfdMsg {
	conn, err := l.Accept()
	if err != nil {
		return pidfdMsg{err: err}
	}
	defer conn.Close()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.(*net.UnixConn).ReadMsgUnix(buf, oob)
	if err != nil {
		return pidfdMsg{err: err}
	}
	scms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(scms) != 1 {
		return pidfdMsg{err: fmt.Errorf("control messages %v: %v", scms, err)}
	}
	fds, err := unix.ParseUnixRights(&scms[0])
	if err != nil || len(fds) != 1 {
		return pidfdMsg{err: fmt.Errorf("fds %v: %v", fds, err)}
	}
	defer unix.Close(fds[0])
	if _, _, e := unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(fds[0]), 0, 0, 0, 0, 0); e != 0 {
		return pidfdMsg{err: fmt.Errorf("pidfd_send_signal 0: %v", e)}
	}
	info, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fds[0]))
	if err != nil {
		return pidfdMsg{err: err}
	}
	m := pidfdMsg{kind: string(buf[:n])}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			m.pid = strings.TrimSpace(v)
		}
	}
	return m
}

func wantPidfd(t *testing.T, ch <-chan pidfdMsg, kind string, pid int) {
	t.Helper()
	select {
	case m := <-ch:
		if m.err != nil || m.kind != kind || m.pid != itoa(pid) {
			t.Errorf("pidfd socket got %+v; want kind %q and a pidfd of %d", m, kind, pid)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("nothing arrived on the pidfd socket")
	}
}

// TestRunc15PidfdSocket: --pidfd-socket on create, run and exec sends a
// pidfd of the workload (runc's message: "standard" or "setns").
func TestRunc15PidfdSocket(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"sleep", "60"})
	sock, ch := pidfdListener(t)
	e.mustBerth("create", "--bundle", b, "--pidfd-socket", sock, "h13-pidfd-c")
	wantPidfd(t, ch, "standard", int(e.state("h13-pidfd-c")["pid"].(float64)))
	e.mustBerth("delete", "-f", "h13-pidfd-c")

	sock, ch = pidfdListener(t)
	e.mustBerth("run", "-d", "--bundle", b, "--pidfd-socket", sock, "h13-pidfd-r")
	wantPidfd(t, ch, "standard", int(e.state("h13-pidfd-r")["pid"].(float64)))

	sock, ch = pidfdListener(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.mustBerth("exec", "-d", "--pid-file", pidFile, "--pidfd-socket", sock, "h13-pidfd-r", "sleep", "30")
	pid, _ := strconv.Atoi(readTrim(t, pidFile))
	wantPidfd(t, ch, "setns", pid)
	e.mustBerth("delete", "-f", "h13-pidfd-r")

	// A socket nobody listens on: refused, nothing left behind.
	bad := filepath.Join(t.TempDir(), "none.sock")
	e.expectRefused([]string{"--pidfd-socket"}, "run", "-d", "--bundle", b, "--pidfd-socket", bad, "h13-pidfd-bad")
	e.assertNothingLeft("h13-pidfd-bad", "h13-pidfd-bad", b)
}

// TestRunc15Features: `berth features` reports what works: idmapped
// mounts, the memory policy modes and flags, the idmap mount options, and
// rdma exactly when the host has the controller.
func TestRunc15Features(t *testing.T) {
	e := newEnv(t)
	var f struct {
		MountOptions []string `json:"mountOptions"`
		Linux        struct {
			Cgroup struct {
				Rdma *bool `json:"rdma"`
			} `json:"cgroup"`
			MemoryPolicy struct {
				Modes []string `json:"modes"`
				Flags []string `json:"flags"`
			} `json:"memoryPolicy"`
			MountExtensions struct {
				IDMap struct {
					Enabled *bool `json:"enabled"`
				} `json:"idmap"`
			} `json:"mountExtensions"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(e.mustBerth("features")), &f); err != nil {
		t.Fatal(err)
	}
	l := f.Linux
	if l.MountExtensions.IDMap.Enabled == nil || !*l.MountExtensions.IDMap.Enabled {
		t.Errorf("linux.mountExtensions.idmap.enabled is not true")
	}
	if len(l.MemoryPolicy.Modes) != 7 || len(l.MemoryPolicy.Flags) != 3 {
		t.Errorf("memoryPolicy: modes %v flags %v; want the 7 modes and 3 flags", l.MemoryPolicy.Modes, l.MemoryPolicy.Flags)
	}
	opts := strings.Join(f.MountOptions, " ")
	if !strings.Contains(" "+opts+" ", " idmap ") || !strings.Contains(" "+opts+" ", " ridmap ") {
		t.Errorf("mountOptions lack idmap/ridmap: %s", opts)
	}
	if l.Cgroup.Rdma == nil || *l.Cgroup.Rdma != hostHasCgroupController("rdma") {
		t.Errorf("linux.cgroup.rdma %v; the host has the controller: %v", l.Cgroup.Rdma, hostHasCgroupController("rdma"))
	}
}

// TestRunc15PersonalityFlags: linux.personality.flags reach the workload
// (runc 1.5 warns and ignores them).
func TestRunc15PersonalityFlags(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"cat", "/proc/self/personality"}, func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE", "UNAME26"}}
	})
	if out, code := e.run("h13-pers", b); code != 0 || strings.TrimSpace(out) != "00060000" {
		t.Errorf("personality %q (exit %d); want 00060000", out, code)
	}
}
