package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// trustedDir makes a directory that berth trusts for its seccomp cache:
// root's, 0700, below directories only root can write (so not in /tmp).
func trustedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/cache", "h6-seccomp-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// plantAllowAll replaces the program of every entry in the cache with one
// that allows every syscall, keeping each entry's key.
func plantAllowAll(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var entry map[string]any
		if err := json.Unmarshal(data, &entry); err != nil {
			t.Fatal(err)
		}
		// BPF_RET|BPF_K SECCOMP_RET_ALLOW
		entry["program"] = map[string]any{"insns": []map[string]any{{"Code": 6, "Jt": 0, "Jf": 0, "K": 0x7fff0000}}, "flags": 0}
		data, _ = json.Marshal(entry)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return len(files)
}

// A compiled filter planted in a cache directory that others can write is
// not used: the container still runs under its own profile, and berth warns
// once. (In a trusted directory the same planted entry is used, which shows
// that the test plants what berth would read.)
func TestSeccompCachePlantedEntryInWorldWritableDirIgnored(t *testing.T) {
	e := newEnv(t)
	cache := trustedDir(t)
	t.Setenv("BERTH_SECCOMP_CACHE", cache)
	b := e.bundle([]string{"sh", "-c", "mkdir /dev/shm/a; echo mkdir=$?"}, withSeccomp(allowAllBut(
		specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
	)))
	if out, _ := e.run("h6-cache-1", b); !strings.Contains(out, "mkdir=1") {
		t.Fatalf("mkdir under a deny-mkdir profile: %q", out)
	}
	if n := plantAllowAll(t, cache); n != 1 {
		t.Fatalf("BERTH_SECCOMP_CACHE %s holds %d entries after one profile, want 1", cache, n)
	}
	if out, _ := e.run("h6-cache-2", b); !strings.Contains(out, "mkdir=0") {
		t.Fatalf("the planted entry was not read from a trusted cache (%q): the test plants the wrong thing", out)
	}
	if err := os.Chmod(cache, 0o777); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.berth("run", "--bundle", b, "h6-cache-3")
	if code != 0 || !strings.Contains(out+errs, "mkdir=1") {
		t.Fatalf("a planted filter in a world-writable cache was used: %q %q (exit %d)", out, errs, code)
	}
	warn := strings.Split(strings.TrimSpace(strings.ReplaceAll(errs, "mkdir: can't create directory '/dev/shm/a': Operation not permitted", "")), "\n")
	if len(warn) != 1 || !strings.Contains(warn[0], "seccomp cache") || !strings.Contains(warn[0], "writable by group or others") {
		t.Fatalf("want one warning line about the untrusted cache, got %q", errs)
	}
}
