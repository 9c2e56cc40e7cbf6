package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Attachment is what a container's state records of its network: enough
// for DEL to undo the ADD, even after berth was killed in the middle of
// it, and even if the network has been redefined since.
type Attachment struct {
	Network     string          `json:"network"`
	ContainerID string          `json:"containerId"`
	IfName      string          `json:"ifname"`
	Netns       string          `json:"netns"` // the namespace, bind-mounted to a file
	RunDir      string          `json:"runDir"`
	PluginPath  string          `json:"pluginPath"`
	ConfList    json.RawMessage `json:"conflist"`
	Subnet      string          `json:"subnet"`
	Ports       []Publish       `json:"ports,omitempty"`
	Hosts       string          `json:"hosts,omitempty"` // the container's /etc/hosts on the host
	Hostname    string          `json:"hostname,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"` // the ADD's, once it succeeded
	IPs         []string        `json:"ips,omitempty"`
}

// Prepare resolves a request into the attachment to make, and checks what
// can be checked before anything exists: the network, its plugins, the
// host ports. stateDir is the container's state directory (it holds
// hosts and resolv.conf).
func (s *Store) Prepare(r *Request, id, hostname, stateDir string) (*Attachment, error) {
	n, err := s.Get(r.Network)
	if err != nil {
		return nil, err
	}
	conf, err := s.confList(n)
	if err != nil {
		return nil, err
	}
	if err := checkPlugins(s.PluginPath, conf); err != nil {
		return nil, fmt.Errorf("--network %s: %w", n.Name, err)
	}
	if err := CheckPorts(r.Publish); err != nil {
		return nil, err
	}
	if hostname == "" {
		hostname = id
	}
	return &Attachment{
		Network: n.Name, ContainerID: id, IfName: "eth0", RunDir: s.RunDir, PluginPath: s.PluginPath,
		Netns: filepath.Join(s.RunDir, "netns", id), ConfList: conf, Subnet: n.Subnet, Ports: r.Publish,
		Hosts: filepath.Join(stateDir, "hosts"), Hostname: hostname,
	}, nil
}

// WriteFiles writes the container's hosts and resolv.conf into its state
// directory, for init to bind-mount; hosts is rewritten in place once the
// address is known.
func (a *Attachment) WriteFiles() error {
	if err := os.WriteFile(a.Hosts, []byte(hostsHeader), 0o644); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	resolv := filepath.Join(filepath.Dir(a.Hosts), "resolv.conf")
	if err := os.WriteFile(resolv, hostResolvConf(), 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}

// Setup makes the container's network namespace, or takes the one at
// path from (a /proc/PID/ns/net), bind-mounted to a file so that it
// outlives a crash and DEL always finds it, and returns it open; Add then
// attaches it. On error nothing of it is left.
func (a *Attachment) Setup(from string) (*os.File, error) {
	if err := a.reservePorts(); err != nil {
		return nil, err
	}
	f, err := makeNetns(a.Netns, from)
	if err != nil {
		a.releasePorts()
		return nil, err
	}
	return f, nil
}

// Add runs the network's plugins (ADD) against the namespace and records
// the result; then the hosts files of every container on the network are
// brought up to date. On error the ADD is undone (the namespace stays, for
// Teardown).
func (a *Attachment) Add() error {
	call := cniCall{containerID: a.ContainerID, netns: a.Netns, ifname: a.IfName, path: a.PluginPath, ports: a.Ports}
	res, err := addList(call, a.ConfList)
	if err != nil {
		return fmt.Errorf("--network %s: %w", a.Network, err)
	}
	a.Result, a.IPs = res, resultIPs(res)
	if err := a.join(); err != nil {
		return fmt.Errorf("--network %s: %w", a.Network, err)
	}
	return nil
}

// Teardown undoes all of Setup and Add that happened: DEL (with the ADD's
// result, or one rebuilt from the IPAM lease when berth died before it was
// recorded), the hosts entries, the port reservations, the namespace.
func (a *Attachment) Teardown() error {
	var errs []error
	prev := a.Result
	if prev == nil {
		prev = a.leaseResult()
	}
	netns := a.Netns
	if _, err := os.Stat(netns); err != nil {
		netns = ""
	}
	call := cniCall{containerID: a.ContainerID, netns: netns, ifname: a.IfName, path: a.PluginPath, ports: a.Ports}
	if err := delList(call, a.ConfList, prev, -1); err != nil {
		errs = append(errs, fmt.Errorf("network %s: %w", a.Network, err))
	}
	if err := a.leave(); err != nil {
		errs = append(errs, err)
	}
	a.releasePorts()
	if err := removeNetns(a.Netns); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// leaseResult rebuilds a CNI result from host-local's lease files
// (dataDir/<network>/<ip>, holding the container ID first).
func (a *Attachment) leaseResult() json.RawMessage {
	dir := filepath.Join(a.RunDir, "ipam", a.Network)
	entries, _ := os.ReadDir(dir)
	p, ok := parsePrefix(a.Subnet)
	if !ok {
		return nil
	}
	var ips []map[string]any
	for _, e := range entries {
		if _, ok := parseIPv4(e.Name()); !ok {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if first, _, _ := strings.Cut(string(data), "\n"); strings.TrimSpace(first) == a.ContainerID {
			ips = append(ips, map[string]any{"address": e.Name() + "/" + strconv.Itoa(p.bits), "interface": 0})
		}
	}
	if ips == nil {
		return nil
	}
	res, _ := json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"interfaces": []map[string]string{{"name": a.IfName, "sandbox": a.Netns}},
		"ips":        ips,
	})
	return res
}

// makeNetns makes a network namespace on a thread of its own, or takes
// the one at from, and bind-mounts it to path. The thread is left locked:
// it ends with its goroutine, and no other goroutine runs in the namespace.
func makeNetns(path, from string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	removeNetns(path) // a stale one of an earlier container of this ID
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	if from != "" {
		done <- os.NewSyscallError("mount", unix.Mount(from, path, "", unix.MS_BIND, ""))
	} else {
		go func() {
			runtime.LockOSThread()
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				done <- os.NewSyscallError("unshare", err)
				return
			}
			done <- os.NewSyscallError("mount", unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""))
		}()
	}
	if err := <-done; err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	f, err = os.Open(path)
	if err != nil {
		removeNetns(path)
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	return f, nil
}

func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("network namespace %s: %w", path, os.NewSyscallError("umount", err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network namespace: %w", err)
	}
	return nil
}

// reservePorts claims each host port for this container (a file per port
// under RunDir/ports, made with O_EXCL), so that two containers cannot
// publish one port: the second's forwarding rule would be shadowed.
func (a *Attachment) reservePorts() error {
	dir := filepath.Join(a.RunDir, "ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--publish: %w", err)
	}
	for i, p := range a.Ports {
		f, err := os.OpenFile(a.portFile(p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			owner, _ := os.ReadFile(a.portFile(p))
			a.releasePorts(a.Ports[:i]...)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("--publish %s: host port %d/%s is already published by container %s", p, p.HostPort, p.Protocol, owner)
			}
			return fmt.Errorf("--publish %s: %w", p, err)
		}
		f.WriteString(a.ContainerID)
		f.Close()
	}
	return nil
}

func (a *Attachment) portFile(p Publish) string {
	return filepath.Join(a.RunDir, "ports", p.Protocol+"-"+strconv.Itoa(p.HostPort))
}

// releasePorts drops this container's reservations (all, when none given).
func (a *Attachment) releasePorts(ps ...Publish) {
	if ps == nil {
		ps = a.Ports
	}
	for _, p := range ps {
		if owner, err := os.ReadFile(a.portFile(p)); err == nil && string(owner) == a.ContainerID {
			os.Remove(a.portFile(p))
		}
	}
}
