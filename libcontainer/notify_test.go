package libcontainer

import (
	"strings"
	"testing"
)

func TestFilterNotify(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ready    bool
	}{
		{"READY=1", "READY=1\nMAINPID=7\n", true},
		{"STATUS=up\nREADY=1\n", "STATUS=up\nREADY=1\nMAINPID=7\n", true},
		{"MAINPID=1\nSTATUS=x", "STATUS=x\n", false}, // the container's pid means nothing to systemd
		{"FDSTORE=1\nFDNAME=a", "", false},           // descriptors are not passed on
		{"WATCHDOG=1", "WATCHDOG=1\n", false},
		{"RELOADING=1\nMONOTONIC_USEC=5", "RELOADING=1\nMONOTONIC_USEC=5\n", false},
		{"STOPPING=1", "STOPPING=1\n", false},
		{"READY=0", "READY=0\n", false},
		{"", "", false},
	} {
		got, ready := filterNotify(tc.in, 7)
		if fg, _ := filterNotify(tc.in, 0); strings.Contains(fg, "MAINPID") {
			t.Errorf("filterNotify(%q, 0) = %q: MAINPID in the foreground", tc.in, fg)
		}
		if got != tc.want || ready != tc.ready {
			t.Errorf("filterNotify(%q) = %q, %v; want %q, %v", tc.in, got, ready, tc.want, tc.ready)
		}
	}
}
