package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Rootless networking: an unprivileged caller cannot make a veth or a
// forwarding rule, so --network bridge gives its container a network
// namespace of the container's user namespace and slirp4netns (user-mode
// TCP/IP) on a tap device in it. slirp4netns runs detached from berth (it
// outlives `run -d`) and forwards the published ports from the host
// through its API socket. The state records it; delete stops it.

// SlirpBinary is the user-mode network stack berth starts.
const SlirpBinary = "slirp4netns"

// Slirp is what a container's state records of its slirp4netns.
type Slirp struct {
	Pid       int       `json:"pid,omitempty"`
	StartTime uint64    `json:"startTime,omitempty"` // /proc/PID/stat field 22: the PID is this process
	APISocket string    `json:"apiSocket"`
	Ports     []Publish `json:"ports,omitempty"`
}

// PrepareSlirp checks a rootless request before anything exists: only the
// default network (slirp4netns), the binary there, the ports free.
func PrepareSlirp(r *Request, stateDir string) (*Slirp, error) {
	if r.Network != DefaultNetwork {
		return nil, fmt.Errorf("--network %s: a rootless container can only use --network %s (slirp4netns), none or host", r.Network, DefaultNetwork)
	}
	if _, err := exec.LookPath(SlirpBinary); err != nil {
		return nil, fmt.Errorf("--network %s: rootless networking needs %s: %w", r.Network, SlirpBinary, err)
	}
	if err := CheckPorts(r.Publish); err != nil {
		return nil, err
	}
	sock := stateDir + "/slirp.sock"
	if len(sock) >= 108 {
		return nil, fmt.Errorf("--network %s: slirp4netns API socket path %s is too long (state root too deep)", r.Network, sock)
	}
	return &Slirp{APISocket: sock, Ports: r.Publish}, nil
}

// Start runs slirp4netns attached to the network namespace of pid (the
// container's init), detached from berth, and returns a function that
// waits until it has configured tap0 and forwards the published ports.
// s.Pid is set once it runs: the caller records it.
func (s *Slirp) Start(pid int) (func() error, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("--network %s: %w", DefaultNetwork, err)
	}
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("--network %s: %w", DefaultNetwork, err)
	}
	defer null.Close()
	cmd := exec.Command(SlirpBinary, "--configure", "--mtu=65520", "--disable-host-loopback",
		"--ready-fd=3", "--api-socket="+s.APISocket, strconv.Itoa(pid), "tap0")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, fmt.Errorf("--network %s: %w", DefaultNetwork, err)
	}
	s.Pid = cmd.Process.Pid
	s.StartTime = procStartTime(s.Pid)
	cmd.Process.Release() // not waited: it outlives berth; init reaps it
	return func() error {
		defer r.Close()
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if n, _ := r.Read(b); n != 1 || b[0] != '1' {
			return fmt.Errorf("--network %s: %s did not configure the container's network", DefaultNetwork, SlirpBinary)
		}
		for _, p := range s.Ports {
			if err := s.addHostfwd(p); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// addHostfwd asks slirp4netns to forward a host port to the container.
func (s *Slirp) addHostfwd(p Publish) error {
	host := p.HostIP
	if host == "" {
		host = "0.0.0.0"
	}
	req, _ := json.Marshal(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": p.Protocol, "host_addr": host, "host_port": p.HostPort, "guest_port": p.ContainerPort,
	}})
	conn, err := net.DialTimeout("unix", s.APISocket, 5*time.Second)
	if err != nil {
		return fmt.Errorf("--publish %s: %w", p, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("--publish %s: %w", p, err)
	}
	conn.(*net.UnixConn).CloseWrite()
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return fmt.Errorf("--publish %s: slirp4netns: %w", p, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("--publish %s: host port %d/%s: slirp4netns: %s", p, p.HostPort, p.Protocol, resp.Error.Desc)
	}
	return nil
}

// Stop ends the container's slirp4netns (if the recorded PID is still
// it) and removes its API socket.
func (s *Slirp) Stop() error {
	if s.Pid > 0 && s.StartTime != 0 && procStartTime(s.Pid) == s.StartTime {
		// Its session (started with Setsid, so the group is its pid):
		// slirp4netns forks a child to configure tap0, which outlives a
		// parent killed alone when berth died mid-create.
		unix.Kill(-s.Pid, unix.SIGKILL)
		if err := unix.Kill(s.Pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("stop %s (pid %d): %w", SlirpBinary, s.Pid, err)
		}
		// The ports are free once it is gone: wait (briefly) for that,
		// and for its child.
		for i := 0; i < 200 && procStartTime(s.Pid) == s.StartTime && !procZombie(s.Pid); i++ {
			time.Sleep(5 * time.Millisecond)
		}
		for i := 0; i < 200 && groupAlive(s.Pid); i++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := os.Remove(s.APISocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s API socket: %w", SlirpBinary, err)
	}
	return nil
}

// groupAlive reports whether a process other than a zombie is left in the
// process group pgid.
func groupAlive(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// procStartTime is field 22 of /proc/PID/stat (0 when there is no PID).
func procStartTime(pid int) uint64 {
	f := procStat(pid)
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

func procZombie(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}
