package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
)

// DefaultNetwork is the network --network bridge (and -p alone) attaches
// to; it is made on first use.
const DefaultNetwork = "bridge"

const (
	defaultSubnet  = "10.213.0.0/16" // off podman's 10.88/16 and docker's 172.17/16
	defaultBridge  = "berth0"
	defaultPlugins = "/usr/lib/cni:/opt/cni/bin"
)

// Store is where networks are defined and where their runtime data lives.
type Store struct {
	ConfigDir  string // <name>.json per network ($BERTH_NETWORK_DIR)
	RunDir     string // IPAM leases, members, port reservations, netns files ($BERTH_NETWORK_RUN_DIR)
	PluginPath string // CNI plugin directories, colon-separated ($BERTH_CNI_PATH)
}

// DefaultStore is the host's store, moved by the environment (tests).
func DefaultStore() *Store {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	return &Store{
		ConfigDir:  env("BERTH_NETWORK_DIR", "/var/lib/berth/networks"),
		RunDir:     env("BERTH_NETWORK_RUN_DIR", "/run/berth/networks"),
		PluginPath: env("BERTH_CNI_PATH", defaultPlugins),
	}
}

// Network is one berth network: a Linux bridge with a subnet.
type Network struct {
	Name   string `json:"name"`
	Subnet string `json:"subnet"`
	Bridge string `json:"bridge"`
}

func validName(name string) error {
	if name == "" || len(name) > 64 || name == None || name == Host {
		return errors.New("not a network name (1-64 of [A-Za-z0-9_.-], not none or host)")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("_.-", r)
		if !ok {
			return errors.New("not a network name (1-64 of [A-Za-z0-9_.-], not none or host)")
		}
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.ConfigDir, name+".json") }

// Get loads a network; the default one is made when it does not exist.
func (s *Store) Get(name string) (*Network, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) && name == DefaultNetwork {
		n, cerr := s.Create(name, defaultSubnet, defaultBridge)
		if errors.Is(cerr, os.ErrExist) { // made meanwhile by another berth
			return s.Get(name)
		}
		return n, cerr
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("--network %s: no such network (see 'berth network ls')", name)
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	var n Network
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("network %s: %s: %w", name, s.path(name), err)
	}
	if _, ok := parsePrefix(n.Subnet); !ok || n.Bridge == "" || n.Name != name {
		return nil, fmt.Errorf("network %s: %s: bad subnet %q or bridge %q", name, s.path(name), n.Subnet, n.Bridge)
	}
	return &n, nil
}

// List returns every defined network, by name.
func (s *Store) List() ([]*Network, error) {
	files, err := os.ReadDir(s.ConfigDir) // sorted by name
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("networks: %w", err)
	}
	var list []*Network
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		n, err := s.Get(name)
		if err != nil {
			return nil, err
		}
		list = append(list, n)
	}
	return list, nil
}

// Create defines a network. An empty subnet takes the first free
// 10.N.0.0/16 above the default's; an empty bridge is named from the
// network's name. It fails with os.ErrExist when the name is taken.
func (s *Store) Create(name, subnet, bridge string) (*Network, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	existing, err := s.List()
	if err != nil && name != DefaultNetwork {
		return nil, err
	}
	if subnet == "" {
		if subnet, err = freeSubnet(existing); err != nil {
			return nil, err
		}
	}
	p, ok := parsePrefix(subnet)
	if !ok || p.bits > 30 {
		return nil, fmt.Errorf("--subnet %q: not an IPv4 subnet of at least 4 addresses (e.g. 10.214.0.0/16)", subnet)
	}
	for _, o := range existing {
		if op, _ := parsePrefix(o.Subnet); op.overlaps(p) {
			return nil, fmt.Errorf("--subnet %s: overlaps network %s's %s", subnet, o.Name, o.Subnet)
		}
	}
	if bridge == "" {
		h := fnv.New32a()
		h.Write([]byte(name))
		bridge = fmt.Sprintf("br-%08x", h.Sum32())
	}
	if len(bridge) > 15 || strings.ContainsAny(bridge, "/ :") {
		return nil, fmt.Errorf("--bridge %q: not an interface name (at most 15 characters)", bridge)
	}
	n := &Network{Name: name, Subnet: p.masked().String(), Bridge: bridge}
	data, _ := json.MarshalIndent(n, "", "\t")
	if err := os.MkdirAll(s.ConfigDir, 0o755); err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	// Written aside and linked in: a reader sees all of it or nothing, and
	// the link fails when the name is taken.
	tmp, err := os.CreateTemp(s.ConfigDir, ".new-")
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	tmp.Close()
	if err == nil {
		err = os.Link(tmp.Name(), s.path(name))
	}
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("network %s: %w", name, os.ErrExist)
	}
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	return n, nil
}

func freeSubnet(existing []*Network) (string, error) {
	for i := 214; i < 255; i++ {
		cand := prefix{10<<24 | uint32(i)<<16, 16}
		free := true
		for _, o := range existing {
			if op, _ := parsePrefix(o.Subnet); op.overlaps(cand) {
				free = false
			}
		}
		if free {
			return cand.String(), nil
		}
	}
	return "", errors.New("no free 10.N.0.0/16 subnet left: give --subnet")
}

// Remove deletes a network that no container uses, and its bridge.
func (s *Store) Remove(name string) error {
	n, err := s.Get(name)
	if err != nil && name != DefaultNetwork {
		return err
	}
	if n == nil {
		return err
	}
	if members, _ := s.members(name); len(members) > 0 {
		return fmt.Errorf("network %s: in use by %d container(s): %s", name, len(members), strings.Join(members, ", "))
	}
	if err := os.Remove(s.path(name)); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	os.RemoveAll(filepath.Join(s.RunDir, "ipam", name))
	if err := DeleteLink(n.Bridge); err != nil {
		return fmt.Errorf("network %s: bridge %s: %w", name, n.Bridge, err)
	}
	return nil
}

// confList is the CNI network configuration list of a network: bridge
// (with host-local IPAM), portmap and firewall, as podman's default.
func (s *Store) confList(n *Network) ([]byte, error) {
	p, _ := parsePrefix(n.Subnet)
	gw := formatIPv4(p.ip + 1)
	list := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.Subnet, "gateway": gw}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(s.RunDir, "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
			map[string]any{"type": "firewall"},
		},
	}
	return json.Marshal(list)
}
