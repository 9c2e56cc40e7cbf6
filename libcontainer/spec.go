package libcontainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/jsonlite"
)

// Bundle is a loaded and validated OCI bundle.
type Bundle struct {
	Path   string      // absolute bundle directory
	Rootfs string      // absolute host path of root.path
	Spec   *specs.Spec // config.json as read
	// Raw is config.json compacted, valid JSON of Spec for as long as Spec
	// is not changed (whoever changes it sets Raw to nil): the parent then
	// passes it on to state.json and the plan as it is, without building
	// encoding/json's encoders for ~100 spec types (docs/performance.md).
	Raw json.RawMessage
}

// LoadBundle reads <dir>/config.json and validates it. Every error names the
// file and, for JSON errors, the line and column.
func LoadBundle(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", abs, unwrapPathErr(err))
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("bundle %s: not a directory", abs)
	}
	cfg := filepath.Join(abs, "config.json")
	data, err := os.ReadFile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, unwrapPathErr(err))
	}
	spec, err := ParseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, err)
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, data); err != nil { // cannot fail: Unmarshal took it
		return nil, fmt.Errorf("%s: %w: %w", cfg, ErrInvalidSpec, err)
	}
	b := &Bundle{Path: abs, Spec: spec, Raw: raw.Bytes()}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, err)
	}
	return b, nil
}

// linuxSpec is what berth decodes a spec into: specs.Spec with the other
// platforms' sections left as they are. encoding/json builds an encoder for
// every type a decode can reach (typeFields does so on the decode path too):
// undecoded, those ~40 types cost nothing.
type linuxSpec struct {
	specs.Spec
	Solaris json.RawMessage `json:"solaris,omitempty"`
	Windows json.RawMessage `json:"windows,omitempty"`
	VM      json.RawMessage `json:"vm,omitempty"`
	ZOS     json.RawMessage `json:"zos,omitempty"`
	FreeBSD json.RawMessage `json:"freebsd,omitempty"`
}

// ParseSpec decodes config.json, reporting syntax and type errors with their
// line and column.
func ParseSpec(data []byte) (*specs.Spec, error) {
	var ls linuxSpec
	spec := &ls.Spec
	if err := jsonlite.Unmarshal(data, &ls); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(data, syn.Offset)
			return nil, fmt.Errorf("%w: malformed JSON at line %d, column %d: %s", ErrInvalidSpec, line, col, syn.Error())
		case errors.As(err, &typ):
			line, col := lineCol(data, typ.Offset)
			return nil, fmt.Errorf("%w: at line %d, column %d: field %q must be %s, not JSON %s", ErrInvalidSpec, line, col, strings.TrimPrefix(typ.Field, "Spec."), typ.Type, typ.Value)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return spec, nil
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// knownNamespaces are the linux.namespaces types berth can create or join.
var knownNamespaces = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
}

func (b *Bundle) validate() error {
	s := b.Spec
	if s.Root == nil || s.Root.Path == "" {
		return invalid("root.path is not set")
	}
	b.Rootfs = s.Root.Path
	if !filepath.IsAbs(b.Rootfs) {
		b.Rootfs = filepath.Join(b.Path, b.Rootfs)
	}
	if fi, err := os.Stat(b.Rootfs); err != nil {
		return invalid("root.path %q: %v", b.Rootfs, unwrapPathErr(err))
	} else if !fi.IsDir() {
		return invalid("root.path %q: not a directory", b.Rootfs)
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	if s.Linux == nil {
		return invalid("linux section is missing")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if !knownNamespaces[ns.Type] {
			return invalid("linux.namespaces: unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return invalid("linux.namespaces: %q is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return invalid("linux.namespaces: %q path %q is not absolute", ns.Type, ns.Path)
		}
	}
	if seen[specs.UserNamespace] && len(s.Linux.UIDMappings) == 0 && userNSPath(s) == "" && !unprivileged() { // rootless: autoUserNS
		return invalid("linux.namespaces: a new user namespace needs linux.uidMappings")
	}
	if !seen[specs.UserNamespace] && (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) {
		return invalid("linux.uidMappings set without a user namespace")
	}
	if err := validateIDMappings("linux.uidMappings", s.Linux.UIDMappings); err != nil {
		return err
	}
	if err := validateIDMappings("linux.gidMappings", s.Linux.GIDMappings); err != nil {
		return err
	}
	if seen[specs.UserNamespace] && userNSPath(s) == "" && (len(s.Linux.UIDMappings) > 0 || !unprivileged()) {
		// A joined namespace's maps are checked by the kernel, at setresuid;
		// a rootless caller's missing ones are made later (autoUserNS).
		if err := validateUserMapped(s.Process.User, s.Linux.UIDMappings, s.Linux.GIDMappings); err != nil {
			return err
		}
	}
	if strings.IndexByte(s.Hostname, 0) >= 0 {
		return invalid("hostname %q contains a NUL byte", s.Hostname)
	}
	if s.Hostname != "" && !seen[specs.UTSNamespace] {
		return invalid("hostname %q set without a new uts namespace", s.Hostname)
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return invalid("mounts[%d]: destination %q is not absolute", i, m.Destination)
		}
	}
	if err := validateSysctl(s); err != nil {
		return err
	}
	if s.Process.SelinuxLabel != "" && !selinuxEnabled() {
		return invalid("process.selinuxLabel is set, but SELinux is disabled or not supported on this host")
	}
	if p := s.Linux.Personality; p != nil && p.Domain != specs.PerLinux && p.Domain != specs.PerLinux32 {
		return invalid("linux.personality: unknown domain %q (want LINUX or LINUX32)", p.Domain)
	}
	return validateUnsupported(s)
}

func selinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// validateSysctl refuses a sysctl that would change the host: each must
// belong to a namespace the container has of its own (as runc checks).
func validateSysctl(s *specs.Spec) error {
	own := func(t specs.LinuxNamespaceType) bool { return hasNS(s, t) }
	for k := range s.Linux.Sysctl {
		if err := sysctlInHostNS(s, k); err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(k, "fs.mqueue.") || strings.HasPrefix(k, "kernel.msg") || strings.HasPrefix(k, "kernel.sem") ||
			strings.HasPrefix(k, "kernel.shm"):
			if !own(specs.IPCNamespace) {
				return invalid("linux.sysctl %q: %sneeds an ipc namespace of the container's own", k, rootlessNote())
			}
		case strings.HasPrefix(k, "net."):
			if !own(specs.NetworkNamespace) {
				return invalid("linux.sysctl %q: %sneeds a network namespace of the container's own", k, rootlessNote())
			}
		case k == "kernel.hostname" || k == "kernel.domainname":
			if !own(specs.UTSNamespace) {
				return invalid("linux.sysctl %q: %sneeds a uts namespace of the container's own", k, rootlessNote())
			}
		default:
			return invalid("linux.sysctl %q: %snot in a namespace the container owns; it would change the host", k, rootlessNote())
		}
	}
	return nil
}

// sysctlInHostNS refuses sysctl k when the namespace it belongs to is
// joined by a path that names the caller's own (/proc/1/ns/net,
// /proc/self/ns/net): it would change the host (runc checks the network
// namespace; ipc and uts hold sysctls too).
func sysctlInHostNS(s *specs.Spec, k string) error {
	t, name := specs.LinuxNamespaceType(""), ""
	switch {
	case strings.HasPrefix(k, "net."):
		t, name = specs.NetworkNamespace, "net"
	case strings.HasPrefix(k, "fs.mqueue.") || strings.HasPrefix(k, "kernel.msg") || strings.HasPrefix(k, "kernel.sem") ||
		strings.HasPrefix(k, "kernel.shm"):
		t, name = specs.IPCNamespace, "ipc"
	case k == "kernel.hostname" || k == "kernel.domainname":
		t, name = specs.UTSNamespace, "uts"
	}
	path := nsPath(s, t)
	if path == "" {
		return nil
	}
	joined, err := os.Stat(path)
	if err != nil {
		return nil // the join itself reports a bad path
	}
	if mine, err := os.Stat("/proc/self/ns/" + name); err == nil && os.SameFile(joined, mine) {
		return invalid("linux.sysctl %q: not allowed in host %s namespace (linux.namespaces joins %s, the caller's own)", k, t, path)
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if p == nil {
		return invalid("process is not set: nothing to run")
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return invalid("process.args is empty: nothing to run")
	}
	// execve and chdir take C strings: a NUL byte would cut one short.
	for i, a := range p.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return invalid("process.args[%d] %q contains a NUL byte", i, a)
		}
	}
	if p.Cwd == "" {
		return invalid("process.cwd is not set")
	}
	if strings.IndexByte(p.Cwd, 0) >= 0 {
		return invalid("process.cwd %q contains a NUL byte", p.Cwd)
	}
	if !filepath.IsAbs(p.Cwd) {
		return invalid("process.cwd %q is not absolute", p.Cwd)
	}
	for i, e := range p.Env {
		if strings.IndexByte(e, 0) >= 0 {
			return invalid("process.env[%d] %q contains a NUL byte", i, e)
		}
		if !strings.Contains(e, "=") {
			return invalid("process.env entry %q is not KEY=value", e)
		}
	}
	if err := validateUserIDs(p.User); err != nil {
		return err
	}
	if err := validateProcessUnsupported(p); err != nil {
		return err
	}
	// A profile that cannot be applied must not leave the process
	// unconfined without a word (as an SELinux label is refused).
	if p.ApparmorProfile != "" && !appArmorEnabled() {
		return invalid("process.apparmorProfile %q is set, but AppArmor is not enabled on this host", p.ApparmorProfile)
	}
	return nil
}

func userNSPath(s *specs.Spec) string {
	return nsPath(s, specs.UserNamespace)
}

// nsPath returns the path of namespace t, "" if it is new or absent.
func nsPath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

// hasNS reports whether namespace t is listed (new or joined).
func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
