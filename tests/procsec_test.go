package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Process security: what berth hands a container's process (descriptors,
// ids, working directory, profiles) and what it refuses.

// berthWithFiles runs berth with extra descriptors (fd 3 on) and a timeout;
// it returns stdout and stderr together and the exit code (-1 on timeout).
func berthWithFiles(e *env, files []*os.File, args ...string) (string, int) {
	e.t.Helper()
	out, err := os.Create(filepath.Join(e.t.TempDir(), "out"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	cmd := newBerthCmd(e, args...)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	code := 0
	select {
	case <-done:
		code = cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		code = -1
	}
	data, _ := os.ReadFile(out.Name())
	return string(data), code
}

// hostMarker makes a host file with a unique content and returns its path
// and the content.
func hostMarker(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host-secret")
	secret := "HOST-SECRET-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

// escapeScript tries to reach path on the host through each descriptor the
// process holds (CVE-2024-21626), and says when it is done.
func escapeScript(path string) []string {
	up := strings.Repeat("../", 20)
	return []string{"sh", "-c", "for n in 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /proc/self/fd/$n/" + up + path + " 2>/dev/null; done; echo ESCAPE-DONE"}
}

// With --preserve-fds N and fewer descriptors open in the caller, the
// numbers beyond are berth's own (the state directory, the Go runtime's
// files): berth refuses, and the workload never runs.
func TestPreserveFDsRefusesBerthsOwn(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle(escapeScript(path))
	for _, verb := range []string{"run", "create"} {
		id := "h1-psfd-" + verb
		out, code := berthWithFiles(e, nil, verb, "--preserve-fds", "3", "--bundle", b, id)
		if code == 0 || strings.Contains(out, secret) || strings.Contains(out, "ESCAPE-DONE") {
			t.Fatalf("%s --preserve-fds 3 with no caller fds: exit %d, output %q; want a refusal before the workload runs", verb, code, out)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "preserved-fd 3") {
			t.Errorf("%s: want one line naming preserved-fd 3, got %q", verb, out)
		}
		e.assertNothingLeft(id, id, b)
		// Nothing can be left holding the container's lock either.
		if _, code := berthWithFiles(e, nil, "start", id); code <= 0 {
			t.Errorf("start %s after the refused create: exit %d, want a quick failure", id, code)
		}
		if _, code := berthWithFiles(e, nil, "delete", "--force", id); code != 0 {
			t.Errorf("delete --force %s after the refused create: exit %d", id, code)
		}
	}
	// One caller fd (3) and a range beyond it: 4 and 5 are not the caller's.
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, code := berthWithFiles(e, []*os.File{f}, "run", "--preserve-fds", "3", "--bundle", b, "h1-psfd-part")
	if code == 0 || strings.Contains(out, secret) || !strings.Contains(out, "preserved-fd 4") {
		t.Fatalf("run --preserve-fds 3 with only fd 3 open: exit %d, output %q", code, out)
	}
	e.assertNothingLeft("h1-psfd-part", "h1-psfd-part", b)
}

// The same for exec, where berth's own descriptors are the container's
// cgroup directory and its v1 tasks files.
func TestExecPreserveFDsRefusesBerthsOwn(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle([]string{"sleep", "1000"})
	e.mustBerth("run", "-d", "--bundle", b, "h1-psfd-exec")
	args := append([]string{"exec", "--preserve-fds", "3", "h1-psfd-exec"}, escapeScript(path)...)
	out, code := berthWithFiles(e, nil, args...)
	if code == 0 || strings.Contains(out, secret) || strings.Contains(out, "ESCAPE-DONE") {
		t.Fatalf("exec --preserve-fds 3 with no caller fds: exit %d, output %q; want a refusal", code, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "preserved-fd") {
		t.Errorf("want one line naming the preserved fd, got %q", out)
	}
	if ps := e.mustBerth("ps", "h1-psfd-exec"); strings.Count(strings.TrimSpace(ps), "\n") != 1 {
		t.Errorf("container runs more than its init after the refused exec:\n%s", ps)
	}
	e.mustBerth("delete", "--force", "h1-psfd-exec")
}

// A count beyond RLIMIT_NOFILE is refused at once, without allocating for it.
func TestPreserveFDsBeyondLimit(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	for _, n := range []string{"2000000", "-1"} {
		e.expectRefused([]string{"--preserve-fds " + n}, "run", "--preserve-fds", n, "--bundle", b, "h1-psfd-big")
		e.assertNothingLeft("h1-psfd-big", "h1-psfd-big", b)
	}
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), "h1-psfd-big2")
	e.expectRefused([]string{"RLIMIT_NOFILE"}, "exec", "--preserve-fds", "2000000", "h1-psfd-big2", "true")
}

// The caller's own descriptors do reach the workload, by run and by exec,
// and only those the caller asked for.
func TestPreserveFDsPassesCallersFD(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in"), []byte("CALLER-FD-CONTENT\n"), 0o644)
	open := func() *os.File {
		f, err := os.Open(filepath.Join(dir, "in"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	// fd 3 is preserved; fd 4, also open in the caller, is not asked for.
	b := e.bundle([]string{"sh", "-c", "cat <&3; test -e /proc/self/fd/4 && echo FD4-LEAKED; echo END"})
	out, code := berthWithFiles(e, []*os.File{open(), open()}, "run", "--preserve-fds", "1", "--bundle", b, "h1-psfd-ok")
	if code != 0 || !strings.Contains(out, "CALLER-FD-CONTENT") || strings.Contains(out, "FD4-LEAKED") || !strings.Contains(out, "END") {
		t.Fatalf("run --preserve-fds 1: exit %d, output %q", code, out)
	}
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), "h1-psfd-ok2")
	out, code = berthWithFiles(e, []*os.File{open(), open()}, "exec", "--preserve-fds", "1", "h1-psfd-ok2",
		"sh", "-c", "cat <&3; test -e /proc/self/fd/4 && echo FD4-LEAKED; echo END")
	if code != 0 || !strings.Contains(out, "CALLER-FD-CONTENT") || strings.Contains(out, "FD4-LEAKED") {
		t.Fatalf("exec --preserve-fds 1: exit %d, output %q", code, out)
	}
}

// While create waits for start, init holds only what it needs: stdio, its
// socket, the exec FIFO, and the Go runtime's own descriptors. Nothing
// of the caller's that was not asked for, no handle on berth's binary or
// a directory.
func TestInitHoldsOnlyItsFDs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"})
	stray, err := os.Open("/dev/null") // the caller's, not preserved
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	files := make([]*os.File, 8) // the stray one lands on fd 10
	files[7] = stray
	if out, code := berthWithFiles(e, files, "create", "--bundle", b, "h1-initfds"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, out)
	}
	pid := int(e.state("h1-initfds")["pid"].(float64))
	ents, err := os.ReadDir("/proc/" + itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		fd, _ := strconv.Atoi(ent.Name())
		target, _ := os.Readlink("/proc/" + itoa(pid) + "/fd/" + ent.Name())
		switch {
		case fd <= 2,
			strings.HasPrefix(target, "socket:"), // the init socket
			strings.HasSuffix(target, "/exec.fifo"),
			target == "anon_inode:[eventpoll]", target == "anon_inode:[eventfd]", // Go's netpoller
			strings.HasPrefix(filepath.Base(target), "cpu.") && strings.HasPrefix(target, "/"): // Go's GOMAXPROCS cgroup files
		default:
			t.Errorf("init holds fd %d -> %q while it waits for start", fd, target)
		}
	}
	e.mustBerth("delete", "--force", "h1-initfds")
}

// noMountNS drops the mount (and cgroup) namespace from a spec: the
// container shares the host's mount table and only has a chroot.
func noMountNS(s *specs.Spec) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.MountNamespace && n.Type != specs.CgroupNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

// exec into a container without a mount namespace starts in the container's
// root, not in the caller's working directory on the host.
func TestExecNoMountNSStartsInsideRoot(t *testing.T) {
	e := newEnv(t)
	path, secret := hostMarker(t)
	b := e.bundle([]string{"sleep", "1000"}, noMountNS)
	e.mustBerth("run", "-d", "--bundle", b, "h1-nomnt-cwd")
	cmd := newBerthCmd(e, "exec", "h1-nomnt-cwd", "sh", "-c", "cat ./"+filepath.Base(path)+"; pwd; ls")
	cmd.Dir = filepath.Dir(path) // the caller's cwd holds the secret
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), secret) || !strings.Contains(string(out), "bin") {
		t.Fatalf("exec from the host directory of a secret printed %q: want the container's root", out)
	}
	cmd = newBerthCmd(e, "exec", "--cwd", "/etc", "h1-nomnt-cwd", "cat", "passwd")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "nobody:x:65534") || strings.Contains(string(out), "daemon:") {
		t.Fatalf("exec --cwd /etc: %v: %q, want the container's /etc/passwd", err, out)
	}
	e.mustBerth("delete", "--force", "h1-nomnt-cwd")
}

// outDir bind-mounts a fresh host directory at /out in the container, for
// a workload to leave a mark: the test then knows whether it ran.
func outDir(t *testing.T) (string, func(*specs.Spec)) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	return dir, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}})
	}
}

func assertNotRan(t *testing.T, dir, what string) {
	t.Helper()
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("%s: the workload ran (it left %s)", what, ents[0].Name())
	}
}

// userNS gives the container a user namespace mapping ids 0-65535 to the
// host's 200000 on.
func userNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
}

// (uid_t)-1 means "unchanged" to setresuid: a process asking for it would
// stay root. It is refused in config.json, and so is an id the container's
// user namespace does not map.
func TestUserIDMinusOneIsRefused(t *testing.T) {
	e := newEnv(t)
	out, mark := outDir(t)
	const minus1 = 4294967295
	for _, c := range []struct {
		name string
		edit func(*specs.Spec)
		want string
	}{
		{"uid", func(s *specs.Spec) { s.Process.User.UID = minus1 }, "process.user.uid 4294967295"},
		{"gid", func(s *specs.Spec) { s.Process.User.GID = minus1 }, "process.user.gid 4294967295"},
		{"additional", func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{5, minus1} }, "process.user.additionalGids[1] 4294967295"},
		{"userns-uid", func(s *specs.Spec) { userNS(s); s.Process.User.UID = 70000 }, "process.user.uid 70000 is not mapped"},
		{"userns-gid", func(s *specs.Spec) { userNS(s); s.Process.User.GID = 70000 }, "process.user.gid 70000 is not mapped"},
		{"userns-additional", func(s *specs.Spec) { userNS(s); s.Process.User.AdditionalGids = []uint32{70000} }, "additionalGids[0] 70000 is not mapped"},
		{"userns-minus1", func(s *specs.Spec) { userNS(s); s.Process.User.UID = minus1 }, "process.user.uid 4294967295"},
	} {
		id := "h1-uid-" + c.name
		b := e.bundle([]string{"touch", "/out/" + c.name}, mark, c.edit)
		e.expectRefused([]string{c.want}, "run", "--bundle", b, id)
		e.expectRefused([]string{c.want}, "create", "--bundle", b, id)
		e.assertNothingLeft(id, id, b)
	}
	assertNotRan(t, out, "config.json ids")
}

// The same ids through exec's --user, --additional-gids and --process.
func TestExecUserIDMinusOneIsRefused(t *testing.T) {
	e := newEnv(t)
	out, mark := outDir(t)
	for _, c := range []struct {
		name  string
		edits []func(*specs.Spec)
		args  []string
		want  string
	}{
		{"user", nil, []string{"--user", "4294967295:4294967295"}, "--user"},
		{"user-gid", nil, []string{"--user", "0:4294967295"}, "--user"},
		{"user-uid", nil, []string{"--user", "4294967295"}, "--user"},
		{"gids", nil, []string{"--additional-gids", "4294967295"}, "--additional-gids"},
		{"p-uid", nil, []string{"-p", `{"uid":4294967295,"gid":0}`}, "process.user.uid 4294967295"},
		{"p-gid", nil, []string{"-p", `{"uid":0,"gid":4294967295}`}, "process.user.gid 4294967295"},
		{"p-additional", nil, []string{"-p", `{"uid":0,"gid":0,"additionalGids":[4294967295]}`}, "additionalGids[0] 4294967295"},
		{"userns-user", []func(*specs.Spec){userNS}, []string{"--user", "70000:0"}, "process.user.uid 70000 is not mapped"},
		{"userns-gids", []func(*specs.Spec){userNS}, []string{"--additional-gids", "70000"}, "additionalGids[0] 70000 is not mapped"},
		{"userns-p", []func(*specs.Spec){userNS}, []string{"-p", `{"uid":0,"gid":70000}`}, "process.user.gid 70000 is not mapped"},
	} {
		id := "h1-xuid-" + c.name
		b := e.bundle([]string{"sleep", "1000"}, append([]func(*specs.Spec){mark, func(s *specs.Spec) { s.Root.Readonly = false }}, c.edits...)...)
		os.Chmod(b, 0o755)
		os.Chmod(filepath.Dir(b), 0o755)
		os.Mkdir(filepath.Join(b, "rootfs", "out"), 0o755) // the user namespace's root may not make it
		e.mustBerth("run", "-d", "--bundle", b, id)
		args := append([]string{"exec"}, c.args...)
		if c.args[0] == "-p" {
			p := filepath.Join(t.TempDir(), "process.json")
			os.WriteFile(p, []byte(`{"args":["touch","/out/`+c.name+`"],"cwd":"/","env":["PATH=/bin"],"user":`+c.args[1]+`}`), 0o644)
			args = []string{"exec", "-p", p, id}
		} else {
			args = append(args, id, "touch", "/out/"+c.name)
		}
		e.expectRefused([]string{c.want}, args...)
		if ps := e.mustBerth("ps", id); strings.Count(strings.TrimSpace(ps), "\n") != 1 {
			t.Errorf("%s: container runs more than its init after the refused exec:\n%s", c.name, ps)
		}
		e.mustBerth("delete", "--force", id)
	}
	assertNotRan(t, out, "exec ids")
}

func appArmorEnabled() bool {
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(data), "Y")
}

// An AppArmor profile that cannot be applied is refused, never ignored: the
// process would run unconfined.
func TestAppArmorProfileWithoutAppArmorIsRefused(t *testing.T) {
	if appArmorEnabled() {
		t.Skip("AppArmor is enabled here: the profile would be applied")
	}
	e := newEnv(t)
	out, mark := outDir(t)
	b := e.bundle([]string{"touch", "/out/ran"}, mark, func(s *specs.Spec) { s.Process.ApparmorProfile = "h1-profile" })
	e.expectRefused([]string{"process.apparmorProfile", "h1-profile", "AppArmor is not enabled"}, "run", "--bundle", b, "h1-aa")
	e.assertNothingLeft("h1-aa", "h1-aa", b)
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}, mark), "h1-aa2")
	e.expectRefused([]string{"process.apparmorProfile", "AppArmor is not enabled"}, "exec", "--apparmor", "h1-profile", "h1-aa2", "touch", "/out/ran-exec")
	p := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(p, []byte(`{"args":["touch","/out/ran-p"],"cwd":"/","apparmorProfile":"h1-profile"}`), 0o644)
	e.expectRefused([]string{"process.apparmorProfile", "AppArmor is not enabled"}, "exec", "-p", p, "h1-aa2")
	assertNotRan(t, out, "apparmorProfile")
}

// A NUL byte in process.env, args or cwd is refused at create, naming the
// field, and is never printed raw.
func TestNULInProcessIsRefusedAtCreate(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		edit func(*specs.Spec)
		want string
	}{
		"env":  {func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "A=b\x00c") }, "process.env["},
		"args": {func(s *specs.Spec) { s.Process.Args = []string{"echo", "x\x00y"} }, "process.args[1]"},
		"cwd":  {func(s *specs.Spec) { s.Process.Cwd = "/tmp\x00x" }, "process.cwd"},
	} {
		id := "h1-nul-" + name
		b := e.bundle([]string{"true"}, c.edit)
		e.expectRefused([]string{c.want, "NUL", `\x00`}, "create", "--bundle", b, id)
		if _, errs, _ := e.berth("create", "--bundle", b, id); strings.ContainsRune(errs, 0) {
			t.Errorf("%s: a NUL byte printed raw: %q", name, errs)
		}
		e.assertNothingLeft(id, id, b)
	}
	e.mustBerth("run", "-d", "--bundle", e.bundle([]string{"sleep", "1000"}), "h1-nul-exec")
	p := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(p, []byte(`{"args":["true"],"cwd":"/","env":["A=b\u0000c"]}`), 0o644)
	e.expectRefused([]string{"process.env[0]", `\x00`}, "exec", "-p", p, "h1-nul-exec")
}

// Bad user-namespace mappings are named as the config field, not as berth's
// internals ("fork/exec /proc/self/fd/5: invalid argument").
func TestBadIDMappingsAreNamed(t *testing.T) {
	e := newEnv(t)
	m := func(c, h, n uint32) specs.LinuxIDMapping {
		return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
	}
	many := make([]specs.LinuxIDMapping, 341)
	for i := range many {
		many[i] = m(uint32(i), 200000+uint32(i), 1)
	}
	for name, c := range map[string]struct {
		uid, gid []specs.LinuxIDMapping
		want     string
	}{
		"size0":        {[]specs.LinuxIDMapping{m(0, 200000, 0)}, nil, "linux.uidMappings[0]: size is 0"},
		"overlap":      {[]specs.LinuxIDMapping{m(0, 200000, 100), m(50, 300000, 100)}, nil, "linux.uidMappings[1]: its containerID range overlaps"},
		"host-overlap": {nil, []specs.LinuxIDMapping{m(0, 200000, 100), m(100, 200050, 100)}, "linux.gidMappings[1]: its hostID range overlaps"},
		"c-overflow":   {[]specs.LinuxIDMapping{m(0, 200000, 65536), m(4294967290, 300000, 10)}, nil, "linux.uidMappings[1]: containerID 4294967290 + size 10"},
		"h-overflow":   {nil, []specs.LinuxIDMapping{m(0, 4294967290, 65536)}, "linux.gidMappings[0]: hostID 4294967290"},
		"too-many":     {many, nil, "linux.uidMappings: 341 entries"},
	} {
		id := "h1-map-" + name
		b := e.bundle([]string{"true"}, userNS, func(s *specs.Spec) {
			if c.uid != nil {
				s.Linux.UIDMappings = c.uid
			}
			if c.gid != nil {
				s.Linux.GIDMappings = c.gid
			}
		})
		e.expectRefused([]string{c.want}, "run", "--bundle", b, id)
		if _, errs, _ := e.berth("run", "--bundle", b, id); strings.Contains(errs, "/proc/self/fd") {
			t.Errorf("%s: the error names berth's internals: %q", name, errs)
		}
		e.assertNothingLeft(id, id, b)
	}
}

// A config with megabytes of annotations runs: the plan goes to init
// through a memfd when it is too large for one datagram.
func TestLargeAnnotationsRun(t *testing.T) {
	e := newEnv(t)
	big := func(s *specs.Spec) {
		s.Annotations = map[string]string{}
		for i := 0; i < 3000; i++ {
			s.Annotations["h1.big."+strconv.Itoa(i)] = strings.Repeat("x", 1000)
		}
	}
	if out, code := e.run("h1-bigann", e.bundle([]string{"echo", "RAN"}, big)); code != 0 || !strings.Contains(out, "RAN") {
		t.Fatalf("run with 3 MB of annotations: exit %d: %s", code, out)
	}
	e.mustBerth("create", "--bundle", e.bundle([]string{"sleep", "1000"}, big), "h1-bigann2")
	e.mustBerth("start", "h1-bigann2")
	if out := e.mustBerth("exec", "h1-bigann2", "echo", "EXEC-OK"); !strings.Contains(out, "EXEC-OK") {
		t.Fatalf("exec into it printed %q", out)
	}
	if st := e.state("h1-bigann2"); len(st["annotations"].(map[string]any)) != 3000 {
		t.Errorf("state shows %d annotations, want 3000", len(st["annotations"].(map[string]any)))
	}
	e.mustBerth("delete", "--force", "h1-bigann2")
}
