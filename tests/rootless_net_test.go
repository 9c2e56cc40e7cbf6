package tests

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Rootless networking: --network bridge and -p for an unprivileged caller
// go through slirp4netns, started by berth and stopped by delete
// (docs/rootless.md, docs/networking.md).

// rlHTTPBundle is a busybox httpd on port 80 serving "hello from NAME".
func rlHTTPBundle(u *rlUser, name string) string {
	dir := u.bundle(name, []string{"httpd", "-f", "-p", "80", "-h", "/www"})
	www := u.mkdir(filepath.Join(name, "rootfs", "www"))
	index := filepath.Join(www, "index.html")
	if err := os.WriteFile(index, []byte("hello from "+name+"\n"), 0o644); err != nil {
		u.t.Fatal(err)
	}
	os.Chown(index, u.uid, u.gid)
	return dir
}

// slirpProcesses lists the user's slirp4netns and pasta processes.
func (u *rlUser) slirpProcesses() []int {
	var out []int
	for _, pid := range u.processes() {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if c := strings.TrimSpace(string(comm)); c == "slirp4netns" || c == "pasta" || c == "passt" {
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// waitHTTP fetches url until it answers (up to 5 s).
func waitHTTP(url string) (string, error) {
	var body string
	var err error
	for i := 0; i < 50; i++ {
		if body, err = httpGet(url); err == nil {
			return body, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return body, err
}

// checkRLNetGone: no slirp4netns of the user, no state directory, and the
// port (when given) does not answer.
func checkRLNetGone(t *testing.T, u *rlUser, id string, port int) {
	t.Helper()
	if pids := u.slirpProcesses(); len(pids) > 0 {
		t.Errorf("slirp4netns/pasta of %s left running: %v", u.name, pids)
	}
	if _, err := os.Stat(u.stateDir(id)); err == nil {
		t.Errorf("state directory %s left behind", u.stateDir(id))
	}
	if port > 0 {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers", port)
		}
	}
}

// TestRootlessNetPublish: a user's `run -d --network bridge -p
// 127.0.0.1:PORT:80` of httpd is reached from the host; the state records
// slirp4netns; after delete the port is closed and nothing is left.
func TestRootlessNetPublish(t *testing.T) {
	requireTun(t)
	u := newRootlessUser(t)
	id := "h16-rlnet-pub"
	dir := rlHTTPBundle(u, "pub")
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	out, errs, code := u.berth(dir, "run", "-d", "--network", "bridge", "-p", "127.0.0.1:"+strconv.Itoa(port)+":80", id)
	if code != 0 {
		t.Fatalf("run -d --network bridge -p as %s: exit %d: %s%s", u.name, code, out, errs)
	}
	body, err := waitHTTP(url)
	if err != nil || body != "hello from pub\n" {
		t.Errorf("GET %s: %q, %v; want hello from pub", url, body, err)
	}
	data, err := os.ReadFile(filepath.Join(u.stateDir(id), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Slirp *struct {
			Pid       int    `json:"pid"`
			APISocket string `json:"apiSocket"`
		} `json:"slirp"`
	}
	json.Unmarshal(data, &st)
	if st.Slirp == nil || st.Slirp.Pid == 0 {
		t.Errorf("state records no slirp4netns: %s", data)
	} else if pids := u.slirpProcesses(); len(pids) != 1 || pids[0] != st.Slirp.Pid {
		t.Errorf("slirp4netns processes of %s: %v, want the recorded %d", u.name, pids, st.Slirp.Pid)
	}
	// The container's own view: lo and tap0, no host interface.
	out = u.mustBerth(dir, "exec", id, "cat", "/proc/net/dev")
	if !strings.Contains(out, "tap0:") || strings.Count(out, ":") != 2 {
		t.Errorf("container's interfaces:\n%s\nwant lo and tap0 only", out)
	}
	u.mustBerth(dir, "delete", "-f", id)
	checkRLNetGone(t, u, id, port)
}

// TestRootlessNetCrash: berth killed once slirp4netns runs (before the
// workload starts); `delete -f` stops it and leaves nothing.
func TestRootlessNetCrash(t *testing.T) {
	requireTun(t)
	u := newRootlessUser(t)
	id := "h16-rlnet-crash"
	dir := rlHTTPBundle(u, "crash")
	port := freePort(t)
	_, _, code := u.berthEnv([]string{"XDG_RUNTIME_DIR=" + u.runtimeDir, "BERTH_TEST_DIE_AT=create:slirp-started"},
		dir, "run", "-d", "-p", "127.0.0.1:"+strconv.Itoa(port)+":80", id)
	if code == 0 {
		t.Fatalf("run did not die at create:slirp-started")
	}
	// slirp4netns, and maybe the child it forks to configure tap0.
	if len(u.slirpProcesses()) == 0 {
		t.Fatalf("no slirp4netns running after the crash: the test shows nothing")
	}
	u.mustBerth(dir, "delete", "-f", id)
	checkRLNetGone(t, u, id, port)
}

// TestRootlessNetBadInput: a port in use and a network a user cannot have
// give one line and leave nothing.
func TestRootlessNetBadInput(t *testing.T) {
	u := newRootlessUser(t)
	dir := rlHTTPBundle(u, "bad")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "127.0.0.1:" + strconv.Itoa(busy) + ":80"}, "already in use"},
		{[]string{"--network", "h16net"}, "--network h16net"},
	} {
		id := "h16-rlnet-bad"
		args := append(append([]string{"run", "-d"}, c.args...), id)
		out, errs, code := u.berth(dir, args...)
		msg := strings.TrimSpace(errs)
		if code == 0 || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want one line with %q", c.args, code, errs, out, c.want)
		}
		checkRLNetGone(t, u, id, 0)
	}
}

// TestRootlessNetNoneHost: --network none is lo only, --network host is
// the user's own network namespace (the host's interfaces).
func TestRootlessNetNoneHost(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.bundle("nh", []string{"cat", "/proc/net/dev"})
	out := u.mustBerth(dir, "run", "--network", "none", "h16-rlnet-none")
	if !strings.Contains(out, "lo:") || strings.Count(out, ":") != 1 {
		t.Errorf("--network none: interfaces\n%s\nwant lo only", out)
	}
	host, _ := os.ReadFile("/proc/net/dev")
	out = u.mustBerth(dir, "run", "--network", "host", "h16-rlnet-host")
	if strings.Count(out, ":") != strings.Count(string(host), ":") {
		t.Errorf("--network host: interfaces\n%s\nwant the host's\n%s", out, host)
	}
	if pids := u.slirpProcesses(); len(pids) > 0 {
		t.Errorf("slirp4netns started for none/host: %v", pids)
	}
}

// TestRootlessNetForeground: a foreground `run --network bridge` sees tap0
// configured by slirp4netns (a default route through it) before the
// workload starts, and leaves nothing once it exits.
func TestRootlessNetForeground(t *testing.T) {
	requireTun(t)
	u := newRootlessUser(t)
	id := "h16-rlnet-fg"
	dir := u.bundle("fg", []string{"cat", "/proc/net/route"})
	out := u.mustBerth(dir, "run", "--network", "bridge", id)
	found := false
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "tap0" && f[1] == "00000000" {
			found = true
		}
	}
	if !found {
		t.Errorf("routes in the container:\n%s\nwant a default route through tap0", out)
	}
	checkRLNetGone(t, u, id, 0)
}

// requireTun skips where slirp4netns has no /dev/net/tun (the cgroup v2
// guest, which loads no tun module).
func requireTun(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun: slirp4netns cannot make tap0 here")
	}
}
