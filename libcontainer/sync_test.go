package libcontainer

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A plan too large for one datagram reaches init whole, through a memfd,
// with the descriptors sent beside it still in order after it.
func TestSendPlanLarge(t *testing.T) {
	for _, size := range []int{10, 3 << 20} {
		parent, child, err := newSyncPair()
		if err != nil {
			t.Fatal(err)
		}
		spec := &specs.Spec{
			Process:     &specs.Process{Args: []string{"true"}, Cwd: "/"},
			Linux:       &specs.Linux{},
			Annotations: map[string]string{"big": strings.Repeat("x", size)},
		}
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- parent.sendPlan(&Plan{ID: "big", Spec: spec}, []int{p[0]}) }()
		msg, fds, err := child.recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("%d bytes: send: %v", size, err)
		}
		if msg.PlanInFD != (size > planInline) {
			t.Errorf("%d bytes: planInFd %v", size, msg.PlanInFD)
		}
		raw, rest, err := planPayload(msg, fds)
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 1 {
			t.Fatalf("%d bytes: %d descriptors left after the plan, want the pipe's", size, len(rest))
		}
		// The pipe's write end still reaches the descriptor that came.
		unix.Write(p[1], []byte("k"))
		buf := make([]byte, 1)
		if n, _ := unix.Read(rest[0], buf); n != 1 || buf[0] != 'k' {
			t.Errorf("%d bytes: the descriptor after the plan is not the one sent", size)
		}
		if !strings.Contains(string(raw), `"id":"big"`) || len(raw) < size {
			t.Errorf("%d bytes: init got %d bytes of plan", size, len(raw))
		}
		closeFDs(append(rest, p[0], p[1]))
		parent.Close()
		child.Close()
	}
}
