package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netEnv is a test's own network world: network config and run dirs in
// temp dirs (BERTH_NETWORK_DIR, BERTH_NETWORK_RUN_DIR), and the default
// network "bridge" defined there on a bridge and a /24 of the test's own,
// so that parallel runs never share one. Its cleanup deletes the test's
// containers, then the network (and with it the bridge device).
type netEnv struct {
	*env
	bridge, subnet, prefix string // prefix: "10.x.y." of the subnet
	runDir                 string
	veths                  int // host veth interfaces before the test
}

func newNetEnv(t *testing.T) *netEnv {
	e := newEnv(t)
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("CNI plugins not installed (apt-get install containernetworking-plugins)")
	}
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	n := &netEnv{env: e, runDir: t.TempDir()}
	n.bridge = fmt.Sprintf("h12t%05d", r.Intn(100000))
	n.veths = countVeths(n.bridge)
	n.prefix = fmt.Sprintf("10.%d.%d.", 230+r.Intn(20), r.Intn(256))
	n.subnet = n.prefix + "0/24"
	t.Setenv("BERTH_NETWORK_DIR", t.TempDir())
	t.Setenv("BERTH_NETWORK_RUN_DIR", n.runDir)
	e.mustBerth("network", "create", "bridge", "--subnet", n.subnet, "--bridge", n.bridge)
	t.Cleanup(func() {
		ids, _, _ := e.berth("list", "-q")
		for _, id := range strings.Fields(ids) {
			e.berth("delete", "--force", id)
		}
		if _, errs, code := e.berth("network", "rm", "bridge"); code != 0 {
			t.Errorf("network rm bridge: %s", errs)
		}
		if _, err := os.Stat("/sys/class/net/" + n.bridge); err == nil {
			t.Errorf("bridge %s left behind", n.bridge)
		}
	})
	return n
}

// countVeths counts the host's veth interfaces that are on no bridge or
// on this test's (others belong to other tests and tools running now).
func countVeths(bridge string) int {
	out, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		master := ""
		for i := range f {
			if f[i] == "master" && i+1 < len(f) {
				master = f[i+1]
			}
		}
		if line != "" && (master == "" || master == bridge) {
			n++
		}
	}
	return n
}

// assertNetNothingLeft checks what a container on the test's network
// could leak: a veth on its bridge or on the host, a firewall or NAT rule
// naming its subnet or a port, an IPAM lease, a namespace mount, a port
// reservation or a member entry.
func (n *netEnv) assertNetNothingLeft(ports ...int) {
	t := n.t
	t.Helper()
	if !waitUntil(5*time.Second, func() bool { return countVeths(n.bridge) <= n.veths }) {
		t.Errorf("host has %d veth interfaces (on no other bridge), %d before", countVeths(n.bridge), n.veths)
	}
	if brif, _ := os.ReadDir("/sys/class/net/" + n.bridge + "/brif"); len(brif) > 0 {
		t.Errorf("%d interfaces left on bridge %s", len(brif), n.bridge)
	}
	for _, tool := range [][]string{{"iptables-save"}, {"nft", "list", "ruleset"}} {
		out, err := exec.Command(tool[0], tool[1:]...).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			bad := strings.Contains(line, n.prefix)
			for _, p := range ports {
				bad = bad || strings.Contains(line, fmt.Sprintf("dport %d ", p)) || strings.Contains(line, fmt.Sprintf("dports %d ", p)) ||
					strings.Contains(line, fmt.Sprintf("--dport %d", p))
			}
			if bad {
				t.Errorf("%s: rule left behind: %s", tool[0], line)
			}
		}
	}
	leases, _ := os.ReadDir(filepath.Join(n.runDir, "ipam", "bridge"))
	for _, l := range leases {
		if strings.HasPrefix(l.Name(), n.prefix) {
			t.Errorf("IPAM lease %s left behind", l.Name())
		}
	}
	for _, d := range []string{"netns", "ports"} {
		if left, _ := os.ReadDir(filepath.Join(n.runDir, d)); len(left) > 0 {
			t.Errorf("%s/%s: %d entries left behind", n.runDir, d, len(left))
		}
	}
	if members, _ := os.ReadDir(filepath.Join(n.runDir, "members", "bridge")); len(members) > 1 { // .lock stays
		t.Errorf("%d network members left behind", len(members)-1)
	}
	if mountsMentioning(t, n.runDir) > 0 {
		t.Errorf("mounts under %s left behind", n.runDir)
	}
}

// freePort is a TCP port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// withNSS gives a bundle the nsswitch.conf of an image: the static glibc
// of busybox asks DNS alone without one.
func withNSS(t *testing.T, bundle string) string {
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "etc", "nsswitch.conf"), []byte("hosts: files dns\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// httpBundle serves "hello from NAME" with busybox httpd on port 80.
func (n *netEnv) httpBundle(name string) string {
	b := n.bundle([]string{"httpd", "-f", "-p", "80", "-h", "/www"})
	os.MkdirAll(filepath.Join(b, "rootfs", "www"), 0o755)
	os.WriteFile(filepath.Join(b, "rootfs", "www", "index.html"), []byte("hello from "+name+"\n"), 0o644)
	return b
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// stateNetwork reads what a container's state records of its network.
func (n *netEnv) stateNetwork(id string) (ips []string, hosts string) {
	data, err := os.ReadFile(filepath.Join(n.root, id, "state.json"))
	if err != nil {
		n.t.Fatal(err)
	}
	var st struct {
		Network struct {
			IPs   []string `json:"ips"`
			Hosts string   `json:"hosts"`
		} `json:"network"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		n.t.Fatal(err)
	}
	return st.Network.IPs, st.Network.Hosts
}

// TestNetworkBridgePublish: a published port answers on 127.0.0.1; a
// second container reaches the first by its ID, with an address of its
// own; after delete the port is dead and nothing is left.
func TestNetworkBridgePublish(t *testing.T) {
	n := newNetEnv(t)
	port := freePort(t)
	a := "h12-net-web"
	n.mustBerth("run", "-d", "--bundle", n.httpBundle(a), "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), a)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var body string
	waitFor(t, 5*time.Second, "the published port to answer", func() bool {
		body, _ = httpGet(url)
		return body == "hello from "+a+"\n"
	})
	aIPs, _ := n.stateNetwork(a)
	if len(aIPs) != 1 || !strings.HasPrefix(aIPs[0], n.prefix) {
		t.Fatalf("state records addresses %v, want one in %s", aIPs, n.subnet)
	}
	b := withNSS(t, n.bundle([]string{"sh", "-c", "timeout 5 wget -q -O- http://" + a + "/ && ip -4 -o addr show eth0"}))
	out, errs, code := n.berth("run", "--bundle", b, "--network", "bridge", "h12-net-client")
	out += errs
	if code != 0 || !strings.Contains(out, "hello from "+a) {
		t.Fatalf("client: exit %d: %q; want the page of %s", code, out, a)
	}
	aIP := strings.Split(aIPs[0], "/")[0]
	if !strings.Contains(out, "inet "+n.prefix) || strings.Contains(out, "inet "+aIP+"/") {
		t.Errorf("client's eth0: %q; want an address of %s other than %s", out, n.subnet, aIP)
	}
	n.mustBerth("delete", "--force", a)
	if _, err := httpGet(url); err == nil {
		t.Errorf("port %d still answers after delete", port)
	}
	n.assertNetNothingLeft(port)
}

// TestNetworkHostsKeptCurrent: a container's /etc/hosts gains the
// containers that join its network later and loses those that leave.
func TestNetworkHostsKeptCurrent(t *testing.T) {
	n := newNetEnv(t)
	sleep := n.bundle([]string{"sleep", "100"})
	n.mustBerth("run", "-d", "--bundle", sleep, "--network", "bridge", "h12-net-h1")
	n.mustBerth("run", "-d", "--bundle", sleep, "--network", "bridge", "h12-net-h2")
	_, hosts1 := n.stateNetwork("h12-net-h1")
	ips2, _ := n.stateNetwork("h12-net-h2")
	data, _ := os.ReadFile(hosts1)
	if want := strings.Split(ips2[0], "/")[0] + "\th12-net-h2"; !strings.Contains(string(data), want) {
		t.Errorf("h1's hosts %q lacks %q", data, want)
	}
	// What the container sees is that file (bind-mounted).
	out, _, code := n.berth("exec", "h12-net-h1", "cat", "/etc/hosts")
	if code != 0 || out != string(data) {
		t.Errorf("h1's /etc/hosts: %q, want %q", out, data)
	}
	n.mustBerth("delete", "--force", "h12-net-h2")
	data, _ = os.ReadFile(hosts1)
	if strings.Contains(string(data), "h12-net-h2") {
		t.Errorf("h1's hosts still names h2 after its delete: %q", data)
	}
	n.mustBerth("delete", "--force", "h12-net-h1")
	n.assertNetNothingLeft()
}

// TestNetworkNone: --network none gives a namespace with lo only; host
// shares the host's.
func TestNetworkNone(t *testing.T) {
	e := newEnv(t)
	// Without the spec's own network namespace: the flag makes one.
	b := e.bundle([]string{"ls", "/sys/class/net"}, dropNetNS)
	out, _, code := e.berth("run", "--bundle", b, "--network", "none", "h12-net-none")
	if code != 0 || strings.TrimSpace(out) != "lo" {
		t.Errorf("--network none: exit %d, interfaces %q; want only lo", code, out)
	}
	out, _, code = e.berth("run", "--bundle", b, "--network", "host", "h12-net-none")
	host, _ := os.ReadDir("/sys/class/net")
	if code != 0 || len(strings.Fields(out)) != len(host) {
		t.Errorf("--network host: exit %d, interfaces %q; want the host's %d", code, out, len(host))
	}
}

// TestNetworkKilledMidCreate: berth SIGKILLed at a random moment of
// `run -d --network bridge -p`, then `delete -f`, five times: nothing left.
func TestNetworkKilledMidCreate(t *testing.T) {
	n := newNetEnv(t)
	b := n.httpBundle("k")
	// How long a whole create takes here: the kills fall anywhere in it.
	start := time.Now()
	n.mustBerth("run", "-d", "--bundle", b, "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", freePort(t)), "h12-net-kill")
	whole := time.Since(start)
	n.mustBerth("delete", "--force", "h12-net-kill")
	var ports []int
	for i := 0; i < 5; i++ {
		port := freePort(t)
		ports = append(ports, port)
		id := fmt.Sprintf("h12-net-kill%d", i)
		n.noteID([]string{"run", id})
		cmd := newBerthCmd(n.env, "run", "-d", "--bundle", b, "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), id)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.Int63n(int64(whole))))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		time.Sleep(100 * time.Millisecond) // an orphaned plugin finishing its step
		if _, errs, code := n.berth("delete", "--force", id); code != 0 {
			t.Errorf("delete --force %s after a kill: %s", id, errs)
		}
	}
	n.assertNetNothingLeft(ports...)
}

// TestNetworkManyAtOnce: 20 containers started at once on one bridge get
// 20 distinct addresses and leave nothing behind.
func TestNetworkManyAtOnce(t *testing.T) {
	n := newNetEnv(t)
	b := n.bundle([]string{"sleep", "100"})
	var wg sync.WaitGroup
	errs := make([]string, 20)
	logs := t.TempDir()
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("h12-net-many%d", i)
		n.noteID([]string{"run", id})
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Output to a file: the detached workload inherits it, and
			// would hold a pipe open until it exits.
			out, _ := os.CreateTemp(logs, "")
			defer out.Close()
			cmd := newBerthCmd(n.env, "run", "-d", "--bundle", b, "--network", "bridge", id)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				data, _ := os.ReadFile(out.Name())
				errs[i] = fmt.Sprintf("%s: %v: %s", id, err, data)
			}
		}(i)
	}
	wg.Wait()
	seen := map[string]string{}
	for i, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
		id := fmt.Sprintf("h12-net-many%d", i)
		ips, _ := n.stateNetwork(id)
		if len(ips) != 1 {
			t.Fatalf("%s: addresses %v", id, ips)
		}
		if other, dup := seen[ips[0]]; dup {
			t.Errorf("%s and %s both got %s", id, other, ips[0])
		}
		seen[ips[0]] = id
	}
	for i := 0; i < 20; i++ {
		n.mustBerth("delete", "--force", fmt.Sprintf("h12-net-many%d", i))
	}
	n.assertNetNothingLeft()
}

// TestNetworkBadInput: each refusal is one line and leaves nothing.
func TestNetworkBadInput(t *testing.T) {
	n := newNetEnv(t)
	b := n.bundle([]string{"true"})
	id := "h12-net-bad"
	run := func(want []string, args ...string) {
		t.Helper()
		n.expectRefused(want, append(append([]string{"run", "--bundle", b}, args...), id)...)
		n.assertNothingLeft(id, id, b)
		n.assertNetNothingLeft()
	}
	for _, p := range []string{"80", "x:80", "1:2:3:4", "127.0.0.1:70000:80", "8080:80/sctp", "300.1.1.1:8080:80", ":80", "8080:"} {
		run([]string{"--publish", p}, "--network", "bridge", "-p", p)
	}
	run([]string{"--network", "h12-no-such-net", "no such network"}, "--network", "h12-no-such-net")
	run([]string{"--publish", "--network none"}, "--network", "none", "-p", "8080:80")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	run([]string{"--publish", "already in use"}, "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", busy))
	// A port published by another berth container.
	port := freePort(t)
	sleep := n.bundle([]string{"sleep", "100"})
	n.mustBerth("run", "-d", "--bundle", sleep, "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "h12-net-owner")
	n.expectRefused([]string{"--publish", "h12-net-owner"}, "run", "--bundle", b, "--network", "bridge", "-p", fmt.Sprintf("%d:80", port), id)
	n.assertNothingLeft(id, id, b)
	n.mustBerth("delete", "--force", "h12-net-owner")
	// A missing plugin: a plugin dir without portmap.
	dir := t.TempDir()
	for _, p := range []string{"bridge", "host-local", "firewall"} {
		os.Symlink("/usr/lib/cni/"+p, filepath.Join(dir, p))
	}
	t.Setenv("BERTH_CNI_PATH", dir)
	run([]string{"--network bridge", `"portmap" not found`}, "--network", "bridge")
}

func dropNetNS(s *specs.Spec) {
	var kept []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

// TestNetworkNetDevices: linux.netDevices moves a host interface into the
// container under its new name (also beside --network bridge), and delete
// moves it back under its host name; `features` says so; a missing device
// is refused in one line before anything exists.
func TestNetworkNetDevices(t *testing.T) {
	n := newNetEnv(t)
	out := n.mustBerth("features")
	if !strings.Contains(out, `"netDevices"`) {
		t.Errorf("features does not report netDevices: %s", out)
	}
	host := fmt.Sprintf("h12nd%d", rand.Intn(100000))
	if msg, err := exec.Command("ip", "link", "add", host, "type", "veth", "peer", "name", host+"p").CombinedOutput(); err != nil {
		t.Skipf("veth pair: %v: %s", err, msg)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	n.veths = countVeths(n.bridge) // with the pair
	withDev := func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{host: {Name: "net1"}}
	}
	b := n.bundle([]string{"sleep", "100"}, withDev)
	for _, args := range [][]string{{}, {"--network", "bridge"}} {
		id := "h12-net-dev"
		n.mustBerth(append(append([]string{"run", "-d", "--bundle", b}, args...), id)...)
		out, errs, code := n.berth("exec", id, "ls", "/sys/class/net")
		if code != 0 || !strings.Contains(out, "net1") || strings.Contains(out, host) {
			t.Errorf("%v: interfaces in the container: %q %s; want net1", args, out, errs)
		}
		if _, err := os.Stat("/sys/class/net/" + host); err == nil {
			t.Errorf("%v: %s still on the host while the container runs", args, host)
		}
		n.mustBerth("delete", "--force", id)
		if _, err := os.Stat("/sys/class/net/" + host); err != nil {
			t.Errorf("%v: %s not back on the host after delete: %v", args, host, err)
		}
	}
	n.assertNetNothingLeft()
	missing := n.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"h12-nodev0": {}}
	})
	n.expectRefused([]string{"linux.netDevices", "h12-nodev0"}, "run", "--bundle", missing, "h12-net-dev2")
	n.assertNothingLeft("h12-net-dev2", "h12-net-dev2", missing)
}

// TestNetworkManage: network ls, create (with its refusals) and rm; a
// network in use cannot be removed; a named network attaches as bridge does.
func TestNetworkManage(t *testing.T) {
	n := newNetEnv(t)
	dev := fmt.Sprintf("h12o%05d", rand.Intn(100000))
	n.expectRefused([]string{"--subnet", "overlaps network bridge"}, "network", "create", "h12-named", "--subnet", n.prefix+"128/25")
	n.expectRefused([]string{"--subnet", "not an IPv4 subnet"}, "network", "create", "h12-named", "--subnet", "10.1.2.3")
	n.expectRefused([]string{"network", "h12 bad", "not a network name"}, "network", "create", "h12 bad")
	n.expectRefused([]string{"network bridge", "already exists"}, "network", "create", "bridge")
	subnet := strings.Replace(n.subnet, "10.2", "10.1", 1) // 10.13x-10.14x: off every test's 10.23x-10.24x
	n.mustBerth("network", "create", "h12-named", "--subnet", subnet, "--bridge", dev)
	if out := n.mustBerth("network", "ls"); !strings.Contains(out, "h12-named") || !strings.Contains(out, dev) || !strings.Contains(out, n.bridge) {
		t.Errorf("network ls: %q", out)
	}
	n.mustBerth("run", "-d", "--bundle", n.bundle([]string{"sleep", "100"}), "--network", "h12-named", "h12-net-named")
	if ips, _ := n.stateNetwork("h12-net-named"); len(ips) != 1 || !strings.HasPrefix(ips[0], strings.TrimSuffix(subnet, "0/24")) {
		t.Errorf("address on h12-named: %v, want one in %s", ips, subnet)
	}
	n.expectRefused([]string{"network h12-named", "in use", "h12-net-named"}, "network", "rm", "h12-named")
	n.mustBerth("delete", "--force", "h12-net-named")
	n.mustBerth("network", "rm", "h12-named")
	if _, err := os.Stat("/sys/class/net/" + dev); err == nil {
		t.Errorf("bridge %s left after network rm", dev)
	}
	n.expectRefused([]string{"h12-named", "no such network"}, "network", "rm", "h12-named")
}

// TestNetworkUserNamespace: with a user namespace the network namespace
// is init's own (cloned with it, so that it owns it); it is attached after
// the spawn all the same, publishes a port, and leaves nothing.
func TestNetworkUserNamespace(t *testing.T) {
	n := newNetEnv(t)
	b := n.httpBundle("userns")
	n.editSpec(b, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	// The namespace's root is host uid 100000: it must reach the rootfs.
	os.Chmod(b, 0o755)
	os.Chmod(filepath.Dir(b), 0o755)
	for _, f := range []string{"hosts", "resolv.conf"} { // as an image has them: /etc is not the namespace root's
		os.WriteFile(filepath.Join(b, "rootfs", "etc", f), nil, 0o644)
	}
	port := freePort(t)
	id := "h12-net-userns"
	n.mustBerth("run", "-d", "--bundle", b, "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), id)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitFor(t, 5*time.Second, "the published port to answer", func() bool {
		body, _ := httpGet(url)
		return body == "hello from userns\n"
	})
	out, errs, code := n.berth("exec", id, "cat", "/proc/self/uid_map")
	if code != 0 || !strings.Contains(out, "100000") {
		t.Errorf("uid_map in the container: %q %s; want the user namespace's", out, errs)
	}
	n.mustBerth("delete", "--force", id)
	n.assertNetNothingLeft(port)
}

// TestNetworkAnnotationsCannotWeaken: the bundle's annotations (which
// containerd and podman pass on from pods and images) attach a container
// that asks for a new network namespace, but never take it to the host's,
// nor out of a namespace the config joins by path, nor into one where the
// config shares the host's.
func TestNetworkAnnotationsCannotWeaken(t *testing.T) {
	n := newNetEnv(t)
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	joined := newNetns(t)
	var joinedNS string
	if st, err := os.Stat(joined); err == nil {
		joinedNS = fmt.Sprintf("net:[%d]", st.Sys().(*syscall.Stat_t).Ino)
	}
	annotate := func(net, publish string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Annotations = map[string]string{"org.berth.network": net, "org.berth.publish": publish}
		}
	}
	for _, c := range []struct {
		name  string
		edits []func(*specs.Spec)
		want  string // the namespace the workload must be in; "" = a new one
	}{
		{"host from a new namespace", []func(*specs.Spec){annotate("host", "")}, ""},
		{"bridge out of a joined one", []func(*specs.Spec){annotate("bridge", "8080:80"), func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, joined) }}, joinedNS},
		{"bridge where the host's is shared", []func(*specs.Spec){annotate("bridge", ""), dropNetNS}, hostNS},
	} {
		b := n.bundle([]string{"readlink", "/proc/self/ns/net"}, c.edits...)
		out, errs, code := n.berth("run", "--bundle", b, "h12-net-annot")
		got := strings.TrimSpace(out)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", c.name, code, errs)
		} else if c.want != "" && got != c.want || c.want == "" && got == hostNS {
			t.Errorf("%s: workload in %s; want %q (host's is %s)", c.name, got, c.want, hostNS)
		}
	}
	n.assertNetNothingLeft(8080)
	// And where the config asks for a new namespace, they attach it and
	// publish its ports.
	port := freePort(t)
	b := n.httpBundle("annotated")
	n.editSpec(b, annotate("bridge", fmt.Sprintf("127.0.0.1:%d:80,127.0.0.1:%d:81/udp", port, port)))
	n.mustBerth("run", "-d", "--bundle", b, "h12-net-annot")
	waitFor(t, 5*time.Second, "the port published by annotation to answer", func() bool {
		body, _ := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		return body == "hello from annotated\n"
	})
	n.mustBerth("delete", "--force", "h12-net-annot")
	n.assertNetNothingLeft(port)
}

// TestNetworkDefaultMadeOnFirstUse: --network bridge with no network
// defined makes the default one (bridge berth0, 10.213.0.0/16) in the
// network dir; the test removes it again.
func TestNetworkDefaultMadeOnFirstUse(t *testing.T) {
	e := newEnv(t)
	if _, err := os.Stat("/sys/class/net/berth0"); err == nil {
		t.Skip("berth0 exists on this host: the default network is in use")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("CNI plugins not installed")
	}
	cfg := t.TempDir()
	t.Setenv("BERTH_NETWORK_DIR", cfg)
	t.Setenv("BERTH_NETWORK_RUN_DIR", t.TempDir())
	t.Cleanup(func() {
		e.berth("delete", "--force", "h12-net-default")
		e.berth("network", "rm", "bridge")
		exec.Command("ip", "link", "del", "berth0").Run()
	})
	b := e.bundle([]string{"ip", "-4", "-o", "addr", "show", "eth0"})
	out, errs, code := e.berth("run", "--bundle", b, "--network", "bridge", "h12-net-default")
	if code != 0 || !strings.Contains(out, "inet 10.213.") {
		t.Fatalf("run --network bridge: exit %d: %q %s; want an address in 10.213.0.0/16", code, out, errs)
	}
	if ls := e.mustBerth("network", "ls"); !strings.Contains(ls, "bridge") || !strings.Contains(ls, "10.213.0.0/16") || !strings.Contains(ls, "berth0") {
		t.Errorf("network ls after first use: %q", ls)
	}
	if _, err := os.Stat(filepath.Join(cfg, "bridge.json")); err != nil {
		t.Errorf("default network not written to BERTH_NETWORK_DIR: %v", err)
	}
	e.mustBerth("network", "rm", "bridge")
	if _, err := os.Stat("/sys/class/net/berth0"); err == nil {
		t.Errorf("berth0 left after network rm bridge")
	}
}
