package network

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Modes of --network that are no CNI network.
const (
	None = "none" // a new network namespace with only lo
	Host = "host" // the host's network namespace
)

// Annotations that carry --network and --publish in a bundle.
const (
	AnnotationNetwork = "org.berth.network"
	AnnotationPublish = "org.berth.publish"
)

// Publish is one -p/--publish: a host port forwarded to a container port.
type Publish struct {
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

func (p Publish) String() string {
	s := strconv.Itoa(p.HostPort) + ":" + strconv.Itoa(p.ContainerPort) + "/" + p.Protocol
	if p.HostIP != "" {
		return p.HostIP + ":" + s
	}
	return s
}

// Request is what --network and --publish ask for.
type Request struct {
	Network string // None, Host, or the name of a berth network
	Publish []Publish
}

// Attaches reports whether the request attaches the container to a CNI
// network (not none or host).
func (r *Request) Attaches() bool {
	return r != nil && r.Network != None && r.Network != Host
}

// ParseRequest checks --network and the --publish values. It returns nil
// when neither is given: the config's namespaces then decide. -p alone
// means the default network, "bridge".
func ParseRequest(network string, publish []string) (*Request, error) {
	if network == "" && len(publish) == 0 {
		return nil, nil
	}
	if network == "" {
		network = DefaultNetwork
	}
	r := &Request{Network: network}
	if network != None && network != Host {
		if err := validName(network); err != nil {
			return nil, fmt.Errorf("--network %q: %w", network, err)
		}
	} else if len(publish) > 0 {
		return nil, fmt.Errorf("--publish %s: ports cannot be published with --network %s", publish[0], network)
	}
	seen := map[string]bool{}
	for _, s := range publish {
		p, err := ParsePublish(s)
		if err != nil {
			return nil, err
		}
		key := p.Protocol + "/" + strconv.Itoa(p.HostPort)
		if seen[key] {
			return nil, fmt.Errorf("--publish %s: host port %d/%s is published twice", s, p.HostPort, p.Protocol)
		}
		seen[key] = true
		r.Publish = append(r.Publish, p)
	}
	return r, nil
}

// ParsePublish parses [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (IPv4 only).
func ParsePublish(s string) (Publish, error) {
	bad := func(why string) error {
		return fmt.Errorf("--publish %q: %s (want [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp])", s, why)
	}
	p := Publish{Protocol: "tcp"}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		p.Protocol = rest[i+1:]
		rest = rest[:i]
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return p, bad("protocol " + strconv.Quote(p.Protocol) + " is not tcp or udp")
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return p, bad("no host port")
	}
	cport, rest := rest[i+1:], rest[:i]
	hport := rest
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		hport = rest[j+1:]
		ip := rest[:j]
		if strings.HasPrefix(ip, "[") || strings.Contains(ip, ":") {
			return p, bad("only IPv4 host addresses are supported")
		}
		addr, ok := parseIPv4(ip)
		if !ok {
			return p, bad("host IP " + strconv.Quote(ip) + " is not an IPv4 address")
		}
		if addr != 0 {
			p.HostIP = ip
		}
	}
	var err error
	if p.HostPort, err = port(hport); err != nil {
		return p, bad("host port: " + err.Error())
	}
	if p.ContainerPort, err = port(cport); err != nil {
		return p, bad("container port: " + err.Error())
	}
	return p, nil
}

func port(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return n, nil
}

// CheckPorts fails when a host port is taken by a listener on the host
// (the forwarding rules would hide it): it binds each port once.
func CheckPorts(ps []Publish) error {
	for _, p := range ps {
		typ := unix.SOCK_STREAM
		if p.Protocol == "udp" {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		sa := &unix.SockaddrInet4{Port: p.HostPort}
		ip, _ := parseIPv4(p.HostIP)
		sa.Addr = [4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}
		err = unix.Bind(fd, sa)
		unix.Close(fd)
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("--publish %s: host port %d/%s is already in use", p, p.HostPort, p.Protocol)
		}
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("--publish %s: %s is not an address of this host", p, p.HostIP)
		}
		if err != nil {
			return fmt.Errorf("--publish %s: %w", p, os.NewSyscallError("bind", err))
		}
	}
	return nil
}
