/*
 * Timer slack for every berth process, set before the Go runtime starts so
 * that all of its threads inherit it.
 *
 * Go's sysmon thread polls every 20 us during a process's first
 * milliseconds, and berth's processes live only that long: with 100
 * containers starting at once on 2 CPUs, those wake-ups were ~7% of all CPU
 * time. A 1 ms slack lets the kernel batch them (100 parallel runs: 1.0 ->
 * 0.75 s) and costs nothing measurable alone. The caller's own slack is
 * kept in berth_caller_timerslack and given back to the workload by init
 * (libcontainer/init_linux.go), which inherits the slack across execve.
 */
#include <sys/prctl.h>

long berth_caller_timerslack;

__attribute__((constructor)) static void berth_timerslack(void)
{
	berth_caller_timerslack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0);
}
