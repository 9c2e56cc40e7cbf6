package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// What the workload sees of the process settings: capabilities, rlimits,
// no_new_privs, umask, personality, sysctl, I/O priority, scheduler, OOM score.
func TestProcessSettingsReachTheWorkload(t *testing.T) {
	e := newEnv(t)
	umask := uint32(0o027)
	oom := 123
	b := e.bundle([]string{"sh", "-c", strings.Join([]string{
		"grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status | tr -s '\\t ' ' '",
		"ulimit -n", "umask", "uname -m", "cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj",
		"cat /proc/sys/kernel/shmmni",
	}, "; ")}, func(s *specs.Spec) {
		caps := []string{"CAP_CHOWN", "CAP_KILL"}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 321, Soft: 321}}
		s.Process.NoNewPrivileges = true
		s.Process.User.Umask = &umask
		s.Process.OOMScoreAdj = &oom
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 5}
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch}
	})
	out, code := e.run("procset", b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	// CAP_CHOWN (0) and CAP_KILL (5): mask 0x21.
	for _, want := range []string{"CapEff: 0000000000000021", "CapBnd: 0000000000000021", "CapAmb: 0000000000000021",
		"NoNewPrivs: 1", "\n321\n", "\n0027\n", "\ni686\n", "\n1\n123\n", "\n1234"} {
		if !strings.Contains(out, want) {
			t.Errorf("workload output lacks %q:\n%s", want, out)
		}
	}
}

func TestHostSysctlIsRefused(t *testing.T) {
	e := newEnv(t)
	for key, want := range map[string]string{
		"kernel.panic":        "would change the host",
		"net.ipv4.ip_forward": "network namespace",
	} {
		b := e.bundle([]string{"true"}, func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{key: "1"}
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.NetworkNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		})
		e.expectRefused([]string{key, want}, "run", "--bundle", b, "sysctl")
		e.assertNothingLeft("sysctl", "", b)
	}
}

func TestUnknownCapabilityIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.bundle([]string{"true"}, func(s *specs.Spec) {
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_BOGUS")
	})
	e.expectRefused([]string{"CAP_BOGUS"}, "run", "--bundle", b, "badcap")
	e.assertNothingLeft("badcap", "", b)
}

// berth runs its own processes with a 1 ms timer slack (fewer Go runtime
// wake-ups; nsenter/timerslack.c), and the slack is kept across execve: the
// workload, run or exec'd, must get its caller's slack back.
func TestWorkloadKeepsTheCallersTimerSlack(t *testing.T) {
	e := newEnv(t)
	withSlack := func(slack string, args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"-c", `echo ` + slack + ` > /proc/$$/timerslack_ns && exec "$0" "$@"`,
			berthBinary, "--root", e.root}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("berth %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Hooks are the caller's programs too: one run by berth (createRuntime,
	// poststop) and one by init (createContainer).
	hookLog := filepath.Join(t.TempDir(), "hooks")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " $(cat /proc/self/timerslack_ns) >> " + hookLog}}
	}
	b := e.bundle([]string{"cat", "/proc/self/timerslack_ns"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")}, Poststop: []specs.Hook{hook("poststop")}}
	})
	if got := withSlack("123456", "run", "--bundle", b, "slack-run"); got != "123456" {
		t.Errorf("run: the workload's timer slack is %q, want the caller's 123456", got)
	}
	if got, _ := os.ReadFile(hookLog); string(got) != "createRuntime 123456\ncreateContainer 123456\npoststop 123456\n" {
		t.Errorf("hooks saw these timer slacks:\n%s\nwant the caller's 123456 in all three", got)
	}
	startSleeper(e, "slack-exec")
	if got := withSlack("234567", "exec", "slack-exec", "cat", "/proc/self/timerslack_ns"); got != "234567" {
		t.Errorf("exec: the process's timer slack is %q, want the caller's 234567", got)
	}
}
