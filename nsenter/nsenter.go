// Package nsenter links in the C constructors that run before the Go
// runtime starts: one joins and creates namespaces (nsenter.c: why, and its
// inputs; it does nothing unless the parent set _BERTH_NSENTER), one sets
// every berth thread's timer slack (timerslack.c). Importing it is all that
// is needed.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern long berth_caller_timerslack;
*/
import "C"

// CallerTimerSlack is the timer slack berth was started with, in ns, which
// the workload gets back (timerslack.c).
func CallerTimerSlack() int64 { return int64(C.berth_caller_timerslack) }
