package libcontainer

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Capability names are capabilities(7)'s, as the runtime spec says:
// "cap_net_raw" is not one, and is refused like any unknown name, naming
// the field (runc ignores it with a warning; berth never grants it).
func TestCapabilityNamesAreExact(t *testing.T) {
	if _, err := newCapSet(&specs.LinuxCapabilities{Bounding: []string{"CAP_NET_RAW"}}); err != nil {
		t.Fatalf("CAP_NET_RAW: %v", err)
	}
	for _, name := range []string{"cap_net_raw", "Cap_Net_Raw", "NET_RAW", "CAP_BOGUS"} {
		_, err := newCapSet(&specs.LinuxCapabilities{Effective: []string{name}})
		if err == nil || !strings.Contains(err.Error(), "process.capabilities.effective") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming process.capabilities.effective", name, err)
		}
	}
}
