package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// CNI plugins are run the way libcni runs them (the CNI spec's protocol:
// CNI_* variables, the plugin's configuration on stdin, a result or an
// error on stdout). libcni itself is not linked: it brings the net package
// and its initialisers into every berth process (docs/networking.md).

// plugin is one plugin of a network's configuration list.
type plugin struct {
	typ  string
	conf map[string]any
}

func parseConfList(raw []byte) (name, version string, plugins []plugin, err error) {
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", "", nil, fmt.Errorf("CNI configuration: %w", err)
	}
	for _, p := range list.Plugins {
		typ, _ := p["type"].(string)
		if typ == "" {
			return "", "", nil, errors.New("CNI configuration: a plugin without a type")
		}
		plugins = append(plugins, plugin{typ, p})
	}
	return list.Name, list.CNIVersion, plugins, nil
}

// findPlugin looks a plugin up in the colon-separated path.
func findPlugin(path, typ string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, typ)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %q not found in %s (BERTH_CNI_PATH; Debian: apt-get install containernetworking-plugins)", typ, path)
}

// checkPlugins fails unless every plugin of the list is installed.
func checkPlugins(path string, conflist []byte) error {
	_, _, plugins, err := parseConfList(conflist)
	if err != nil {
		return err
	}
	for _, p := range plugins {
		if _, err := findPlugin(path, p.typ); err != nil {
			return err
		}
	}
	return nil
}

// cniCall is one invocation's variables.
type cniCall struct {
	command, containerID, netns, ifname, path string
	ports                                     []Publish
}

// invoke runs one plugin with its configuration, the previous result and
// the runtime configuration it asks for, and returns its result.
func (c *cniCall) invoke(name, version string, p plugin, prev json.RawMessage) (json.RawMessage, error) {
	bin, err := findPlugin(c.path, p.typ)
	if err != nil {
		return nil, err
	}
	conf := map[string]any{}
	for k, v := range p.conf {
		if k != "capabilities" {
			conf[k] = v
		}
	}
	conf["name"], conf["cniVersion"] = name, version
	if prev != nil {
		conf["prevResult"] = prev
	}
	if caps, _ := p.conf["capabilities"].(map[string]any); caps["portMappings"] == true && len(c.ports) > 0 {
		conf["runtimeConfig"] = map[string]any{"portMappings": c.ports}
	}
	stdin, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	// A berth killed mid-ADD takes its plugin along: an orphan finishing
	// its ADD after `delete --force` ran DEL would leak what it adds.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(pluginEnv(),
		"CNI_COMMAND="+c.command, "CNI_CONTAINERID="+c.containerID, "CNI_NETNS="+c.netns,
		"CNI_IFNAME="+c.ifname, "CNI_PATH="+c.path, "CNI_ARGS=")
	if err := cmd.Run(); err != nil {
		var e struct {
			Msg     string `json:"msg"`
			Details string `json:"details"`
		}
		msg := strings.TrimSpace(stderr.String())
		if json.Unmarshal(stdout.Bytes(), &e) == nil && e.Msg != "" {
			msg = e.Msg
			if e.Details != "" {
				msg += ": " + e.Details
			}
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("CNI %s %s: %s", p.typ, c.command, oneLine(msg))
	}
	if c.command != "ADD" {
		return nil, nil
	}
	return json.RawMessage(bytes.TrimSpace(stdout.Bytes())), nil
}

// pluginEnv is berth's environment without CNI_* variables of its own
// caller; plugins need PATH (portmap and firewall run iptables).
func pluginEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CNI_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("PATH") == "" {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// skips reports whether a plugin has nothing to do: portmap (a plugin
// asking for portMappings) without ports. Its ADD would pass the result
// on, its DEL look for rules that were never made: 0.2-0.5 s of iptables
// here, each.
func (c *cniCall) skips(p plugin) bool {
	caps, _ := p.conf["capabilities"].(map[string]any)
	return caps["portMappings"] == true && len(c.ports) == 0
}

// addList runs ADD through the list; on failure it runs DEL for what was
// added and returns the ADD's error.
func addList(c cniCall, conflist []byte) (json.RawMessage, error) {
	name, version, plugins, err := parseConfList(conflist)
	if err != nil {
		return nil, err
	}
	c.command = "ADD"
	var prev json.RawMessage
	for i, p := range plugins {
		if c.skips(p) {
			continue
		}
		res, err := c.invoke(name, version, p, prev)
		if err != nil {
			delList(c, conflist, prev, i+1)
			return nil, err
		}
		prev = res
	}
	return prev, nil
}

// delList runs DEL on the first n plugins of the list (n < 0: all), last
// first, with the ADD's result; it goes on past errors and returns them.
func delList(c cniCall, conflist []byte, prev json.RawMessage, n int) error {
	name, version, plugins, err := parseConfList(conflist)
	if err != nil {
		return err
	}
	if n < 0 || n > len(plugins) {
		n = len(plugins)
	}
	c.command = "DEL"
	var errs []error
	for i := n - 1; i >= 0; i-- {
		if c.skips(plugins[i]) {
			continue
		}
		if _, err := c.invoke(name, version, plugins[i], prev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resultIPs is the addresses of a CNI result (CIDR form).
func resultIPs(res json.RawMessage) []string {
	var r struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	json.Unmarshal(res, &r)
	var ips []string
	for _, ip := range r.IPs {
		ips = append(ips, ip.Address)
	}
	return ips
}
