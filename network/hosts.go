package network

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Names: every container on a network finds the others by ID (and
// hostname) in its /etc/hosts. Each member is a file under
// RunDir/members/<network>/<id>; on every join and leave, under the
// network's lock, the hosts files of all members are rewritten in place
// (they are bind-mounted into the containers, so the inode must stay).

const hostsHeader = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

type member struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	IPs      []string `json:"ips"`
	Hosts    string   `json:"hosts"`
}

func membersDir(runDir, network string) string {
	return filepath.Join(runDir, "members", network)
}

// members lists the IDs of the containers on a network.
func (s *Store) members(network string) ([]string, error) {
	entries, err := os.ReadDir(membersDir(s.RunDir, network))
	var ids []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, err
}

// lockNetwork takes the network's lock; the returned func releases it.
func lockNetwork(runDir, network string) (func(), error) {
	dir := membersDir(runDir, network)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, os.NewSyscallError("flock", err)
	}
	return func() { f.Close() }, nil
}

// join records the container as a member and rewrites every member's hosts.
func (a *Attachment) join() error {
	unlock, err := lockNetwork(a.RunDir, a.Network)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	defer unlock()
	var ips []string
	for _, ip := range a.IPs {
		ips = append(ips, strings.SplitN(ip, "/", 2)[0])
	}
	data, _ := json.Marshal(member{ID: a.ContainerID, Hostname: a.Hostname, IPs: ips, Hosts: a.Hosts})
	if err := os.WriteFile(filepath.Join(membersDir(a.RunDir, a.Network), a.ContainerID), data, 0o644); err != nil {
		return fmt.Errorf("members: %w", err)
	}
	return rewriteHosts(a.RunDir, a.Network)
}

// leave drops the container from the members and rewrites the others' hosts.
func (a *Attachment) leave() error {
	unlock, err := lockNetwork(a.RunDir, a.Network)
	if err != nil {
		return fmt.Errorf("network %s: members: %w", a.Network, err)
	}
	defer unlock()
	if err := os.Remove(filepath.Join(membersDir(a.RunDir, a.Network), a.ContainerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network %s: members: %w", a.Network, err)
	}
	return rewriteHosts(a.RunDir, a.Network)
}

// rewriteHosts writes each member's hosts file: localhost, itself first,
// then the others by ID. Preconditions: the network's lock is held.
func rewriteHosts(runDir, network string) error {
	dir := membersDir(runDir, network)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var ms []member
	for _, e := range entries {
		var m member
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && json.Unmarshal(data, &m) == nil && m.ID != "" {
			ms = append(ms, m)
		}
	}
	// os.ReadDir sorts by name: the members are in ID order.
	// A container's hostname is its own only: many share the default.
	line := func(b *bytes.Buffer, m member, self bool) {
		for _, ip := range m.IPs {
			names := m.ID
			if self && m.Hostname != "" && m.Hostname != m.ID {
				names += " " + m.Hostname
			}
			fmt.Fprintf(b, "%s\t%s\n", ip, names)
		}
	}
	for _, self := range ms {
		var b bytes.Buffer
		b.WriteString(hostsHeader)
		line(&b, self, true)
		for _, m := range ms {
			if m.ID != self.ID {
				line(&b, m, false)
			}
		}
		// In place, never created: a container gone meanwhile is skipped.
		f, err := os.OpenFile(self.Hosts, os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		f.Write(b.Bytes())
		f.Close()
	}
	return nil
}

// hostResolvConf is the host's resolv.conf without loopback name servers,
// which the container cannot reach (systemd-resolved's stub: its upstream
// servers instead, as docker does); docker's fallback when none is left.
func hostResolvConf() []byte {
	data, _ := os.ReadFile("/etc/resolv.conf")
	if bytes.Contains(data, []byte("nameserver 127.0.0.53")) {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			data = up
		}
	}
	var b bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if strings.HasPrefix(f[1], "127.") || f[1] == "::1" {
				continue
			}
			servers++
		}
		b.WriteString(sc.Text() + "\n")
	}
	if servers == 0 {
		b.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return b.Bytes()
}
