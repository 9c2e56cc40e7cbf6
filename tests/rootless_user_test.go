package tests

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The throwaway unprivileged user of the rootless tests (rootless_test.go):
// created with useradd (which on Debian also gives it /etc/subuid and
// /etc/subgid ranges) and removed afterwards with everything it left, even
// on failure; berth run as it, bundles made in its home, cgroups delegated
// to it.

// rlUser is a throwaway unprivileged user.
type rlUser struct {
	t          *testing.T
	name, home string
	uid, gid   int
	runtimeDir string // its XDG_RUNTIME_DIR (0700, its own)
	subUID     uint32 // start of its /etc/subuid range (65536 ids)
	subGID     uint32
	// cgroupLeaf, when set, is the cgroup v2 directory berth starts in: a
	// leaf of the subtree delegated to the user (delegate).
	cgroupLeaf string
	asNSRoot   bool // berth runs as root of a user namespace of the user's
}

func newRootlessUser(t *testing.T) *rlUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("rootless tests create a user: they need root")
	}
	if _, err := exec.LookPath("newuidmap"); err != nil {
		t.Skip("newuidmap not installed (apt-get install uidmap)")
	}
	b := make([]byte, 4)
	rand.Read(b)
	u := &rlUser{t: t, name: "berth-rl-" + hex.EncodeToString(b)}
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", u.name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", u.name, err, out)
	}
	t.Cleanup(u.remove)
	out, err := exec.Command("id", "-u", u.name).Output()
	if err != nil {
		t.Fatal(err)
	}
	u.uid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	out, _ = exec.Command("id", "-g", u.name).Output()
	u.gid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	u.home = "/home/" + u.name
	var ok1, ok2 bool
	u.subUID, ok1 = subIDStart("/etc/subuid", u.name)
	u.subGID, ok2 = subIDStart("/etc/subgid", u.name)
	if !ok1 || !ok2 {
		t.Fatalf("useradd gave %s no 65536-id range in /etc/subuid and /etc/subgid", u.name)
	}
	u.runtimeDir = u.mkdir("run")
	if err := os.Chmod(u.runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return u
}

// subIDStart finds name's range of 65536 ids in an /etc/subuid-style file.
func subIDStart(file, name string) (uint32, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) == 3 && p[0] == name && p[2] == "65536" {
			n, err := strconv.ParseUint(p[1], 10, 32)
			return uint32(n), err == nil
		}
	}
	return 0, false
}

// remove kills what the user still runs (by PID, its containers' processes
// under its subordinate ids too), unmounts what is left under its home, and
// deletes the user, its home and its subordinate id lines.
func (u *rlUser) remove() {
	for i := 0; i < 50; i++ {
		pids := u.processes()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], u.home+"/") {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	if out, err := exec.Command("userdel", "-r", u.name).CombinedOutput(); err != nil {
		u.t.Errorf("userdel -r %s: %v: %s", u.name, err, out)
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var keep []string
		for _, l := range strings.SplitAfter(string(data), "\n") {
			if l != "" && !strings.HasPrefix(l, u.name+":") {
				keep = append(keep, l)
			}
		}
		if kept := strings.Join(keep, ""); kept != string(data) {
			os.WriteFile(file, []byte(kept), 0o644)
		}
	}
	os.RemoveAll(u.home)
}

// processes lists the PIDs owned by the user or by its subordinate uids.
func (u *rlUser) processes() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) != nil {
			continue
		}
		if int(st.Uid) == u.uid || (st.Uid >= u.subUID && st.Uid < u.subUID+65536) {
			out = append(out, pid)
		}
	}
	return out
}

// mkdir makes a directory under the user's home, owned by the user.
func (u *rlUser) mkdir(name string) string {
	u.t.Helper()
	dir := filepath.Join(u.home, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		u.t.Fatal(err)
	}
	return dir
}

// berth runs berth as the user, with its own HOME and XDG_RUNTIME_DIR and
// the default state root, in dir; it returns stdout, stderr and the exit
// code. Output goes through files: a detached container keeps its stdio.
func (u *rlUser) berth(dir string, args ...string) (string, string, int) {
	u.t.Helper()
	return u.berthEnv([]string{"XDG_RUNTIME_DIR=" + u.runtimeDir}, dir, args...)
}

// berthEnv is berth with extra environment (XDG_RUNTIME_DIR is not set
// unless it holds it).
func (u *rlUser) berthEnv(env []string, dir string, args ...string) (string, string, int) {
	u.t.Helper()
	out, errOut := filepath.Join(u.t.TempDir(), "out"), filepath.Join(u.t.TempDir(), "err")
	fo, _ := os.Create(out)
	fe, _ := os.Create(errOut)
	defer fo.Close()
	defer fe.Close()
	cmd := exec.Command(berthBinary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = fo, fe
	cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	if u.asNSRoot {
		// As rootless podman runs its runtime: root of a user namespace
		// that maps 0 to the user.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: u.uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: u.gid, Size: 1}}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	if u.cgroupLeaf != "" {
		leaf, err := os.Open(u.cgroupLeaf)
		if err != nil {
			u.t.Fatal(err)
		}
		defer leaf.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(leaf.Fd())
	}
	if err := cmd.Start(); err != nil {
		u.t.Fatalf("start berth as %s: %v", u.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			u.t.Fatalf("berth %v as %s: %v", args, u.name, err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		u.t.Fatalf("berth %v as %s: timed out", args, u.name)
	}
	o, _ := os.ReadFile(out)
	e, _ := os.ReadFile(errOut)
	return string(o), string(e), cmd.ProcessState.ExitCode()
}

func (u *rlUser) mustBerth(dir string, args ...string) string {
	u.t.Helper()
	out, errs, code := u.berth(dir, args...)
	if code != 0 {
		u.t.Fatalf("berth %v as %s: exit %d: %s%s", args, u.name, code, out, errs)
	}
	return out
}

// bundle makes a busybox bundle owned by the user under its home, with the
// config `berth spec --rootless` writes as the user, running args, and
// adjusted by each edit.
func (u *rlUser) bundle(name string, args []string, edits ...func(*specs.Spec)) string {
	u.t.Helper()
	dir := u.mkdir(name)
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "mnt"} {
		u.mkdir(filepath.Join(name, "rootfs", d))
	}
	bin := filepath.Join(dir, "rootfs", "bin")
	if out, err := exec.Command("cp", busybox, filepath.Join(bin, "busybox")).CombinedOutput(); err != nil {
		u.t.Fatalf("cp busybox: %v: %s", err, out)
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		u.t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(bin, applet))
		}
	}
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rootfs", "etc", "group"), []byte("root:x:0:\nuser:x:1000:\n"), 0o644)
	if out, err := exec.Command("chown", "-R", "-h", fmt.Sprintf("%d:%d", u.uid, u.gid), dir).CombinedOutput(); err != nil {
		u.t.Fatalf("chown: %v: %s", err, out)
	}
	u.mustBerth(dir, "spec", "--rootless")
	u.editSpecAs(dir, func(s *specs.Spec) { s.Process.Terminal = false; s.Process.Args = args })
	for _, fn := range edits {
		u.editSpecAs(dir, fn)
	}
	return dir
}

// stateDir is where the user's container id keeps its state by default.
func (u *rlUser) stateDir(id string) string { return filepath.Join(u.runtimeDir, "berth", id) }

// subordinateMaps maps 0 to the user and 1..65536 to its subordinate ranges.
func (u *rlUser) subordinateMaps(s *specs.Spec) {
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.uid), Size: 1}, {ContainerID: 1, HostID: u.subUID, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.gid), Size: 1}, {ContainerID: 1, HostID: u.subGID, Size: 65536}}
}

// editSpecAs rewrites a bundle's config.json through fn.
func (u *rlUser) editSpecAs(dir string, fn func(*specs.Spec)) {
	u.t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		u.t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		u.t.Fatal(err)
	}
	fn(&s)
	data, _ = json.MarshalIndent(&s, "", "  ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// delegate makes a cgroup named name in every cgroup hierarchy and gives it
// to the user, as an administrator (or systemd's Delegate=yes) would; on a
// cgroup v2 host with the memory controller enabled for it, and berth
// started in a leaf below it (the kernel lets a user move a process only
// between cgroups whose common ancestor it may write). It returns the
// directories, removed at cleanup.
func (u *rlUser) delegate(name string) []string {
	u.t.Helper()
	var st syscall.Statfs_t
	unified := syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
	var tops []string
	if unified {
		tops = []string{"/sys/fs/cgroup"}
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory +pids"), 0)
	} else {
		tops, _ = filepath.Glob("/sys/fs/cgroup/*")
	}
	var dirs []string
	for _, top := range tops {
		if syscall.Statfs(top, &st) != nil || (st.Type != 0x27e0eb && st.Type != 0x63677270) {
			continue // not a cgroup hierarchy
		}
		dir := filepath.Join(top, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			u.t.Fatal(err)
		}
		dirs = append(dirs, dir)
		u.t.Cleanup(func() { syscall.Rmdir(dir) })
		if unified {
			leaf := filepath.Join(dir, "berth")
			if err := os.Mkdir(leaf, 0o755); err != nil {
				u.t.Fatal(err)
			}
			u.t.Cleanup(func() { syscall.Rmdir(leaf) })
			u.cgroupLeaf = leaf
		}
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.uid, u.gid), dir).CombinedOutput(); err != nil {
			u.t.Fatalf("chown %s: %v: %s", dir, err, out)
		}
	}
	return dirs
}
