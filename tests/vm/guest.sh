# Stage 2 of the berth test VM: PID 1 after switch_root, run by the busybox
# copied to /run/berth-vm (so it does not depend on the host's shell).
#
# The root is now the overlay of the host's root; proc, sys, dev, cgroup2,
# /tmp and /run are mounted (see init). This brings up loopback, runs the job
# that run.sh wrote (it sets the environment, cd's to the host's working
# directory and runs the command), prints its exit code on the console as
# VM-EXIT-CODE=<n> for run.sh, and powers off.
bb=/run/berth-vm/busybox
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

$bb hostname berth-vm
$bb ip link set lo up || echo "berth-vm: cannot bring up lo" >&2

# The job's stdin is /dev/null: nobody types into a CI run. The shell that
# runs it is the host's /bin/sh, as it would be on the host.
start=$($bb cut -d' ' -f1 /proc/uptime)
$bb grep -qw quiet /proc/cmdline ||
  echo "berth-vm: guest up after ${start}s; running the job"
/bin/sh /run/berth-vm/job.sh < /dev/null
rc=$?

# Flush what the job wrote to the console, then report on a line of its own
# (the job's output may not end with a newline).
$bb sync
printf '\nVM-EXIT-CODE=%d\n' "$rc"
$bb poweroff -f
echo o > /proc/sysrq-trigger
$bb sleep 60
