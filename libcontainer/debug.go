package libcontainer

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/logs"
)

// dieAtEnv names a step at which berth kills itself with SIGKILL. It exists
// for the crash tests (tests/crash_test.go), which prove that a berth killed
// at any step leaves nothing `delete --force` cannot remove. It can only make
// berth die, never do anything else.
const dieAtEnv = "BERTH_TEST_DIE_AT"

var dieAt = os.Getenv(dieAtEnv)

// traceEnv, when set, makes every trace point print to stderr the time since
// berth started and the wall clock (to line up the parent's and init's
// lines): where the time goes on the hot path (docs/performance.md).
var (
	trace     = os.Getenv("BERTH_TRACE") != ""
	startTime = time.Now()
)

// tracePoint logs step as a debug message (--debug: "create: bundle
// loaded"), and kills berth if the crash tests asked to die at step. Only
// the parent sets the log up: in `berth init` debug messages are off, and
// the child never writes to the user's log.
func tracePoint(step string) {
	logs.Debugf("%s", strings.Replace(strings.ReplaceAll(step, "-", " "), ":", ": ", 1))
	if trace {
		now := time.Now()
		fmt.Fprintf(os.Stderr, "berth[%d] %6.2fms %s %s\n", os.Getpid(), float64(now.Sub(startTime).Microseconds())/1000,
			now.Format("05.000000"), step)
	}
	if dieAt != "" && dieAt == step {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		select {} // the signal is on its way
	}
}
