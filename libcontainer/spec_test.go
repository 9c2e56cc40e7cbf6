package libcontainer

import (
	"strings"
	"testing"
)

// The other platforms' sections are carried, not decoded: a Linux runtime
// has no use for them, and decoding them builds encoding/json's encoders for
// their ~40 types (docs/performance.md). The Linux parts decode as before,
// and type errors in them still name the field and the position.
func TestParseSpecLeavesOtherPlatformsAlone(t *testing.T) {
	const cfg = `{"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"},
	  "windows": {"layerFolders": ["c:\\x"], "hyperv": {}}, "solaris": {"milestone": "m"},
	  "vm": {"kernel": {"path": "/k"}}, "zos": {}, "freebsd": {"jail": {}},
	  "linux": {"namespaces": [{"type": "pid"}], "maskedPaths": ["/proc/kcore"]}}`
	s, err := ParseSpec([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.Args[0] != "true" || s.Root.Path != "rootfs" || len(s.Linux.Namespaces) != 1 || s.Linux.MaskedPaths[0] != "/proc/kcore" {
		t.Errorf("linux parts: %+v %+v %+v", s.Process, s.Root, s.Linux)
	}
	if s.Windows != nil || s.Solaris != nil || s.VM != nil || s.ZOS != nil || s.FreeBSD != nil {
		t.Errorf("another platform's section was decoded")
	}
	_, err = ParseSpec([]byte("{\"ociVersion\": \"1.0.2\",\n \"process\": {\"terminal\": \"yes\"}}"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), `"process.terminal"`) {
		t.Errorf("type error: %v; want its line and field", err)
	}
}
