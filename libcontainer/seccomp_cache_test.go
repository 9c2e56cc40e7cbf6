package libcontainer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A profile is compiled once; the cached program is the same program; a
// damaged cache entry is compiled again, not trusted.
func TestSeccompCache(t *testing.T) {
	seccompCache = t.TempDir()
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
	}}
	first, err := cachedProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(seccompCache, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one entry", files)
	}
	again, err := cachedProgram(p)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("cached program differs: %v", err)
	}
	os.WriteFile(files[0], []byte("{damaged"), 0o600)
	third, err := cachedProgram(p)
	if err != nil || !reflect.DeepEqual(first, third) {
		t.Fatalf("after damage: %v", err)
	}
	// An entry under this profile's name that holds another profile's
	// program (a forgery, or a hash collision) is not used.
	allowAll := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	forged, _ := cachedProgram(allowAll)
	data, _ := json.Marshal(cacheEntry{Key: "another profile", Program: forged})
	os.WriteFile(files[0], data, 0o600)
	if got, err := cachedProgram(p); err != nil || !reflect.DeepEqual(first, got) {
		t.Fatalf("a forged entry was used: %v", err)
	}
	p.Syscalls[0].Names = append(p.Syscalls[0].Names, "close")
	if other, _ := cachedProgram(p); reflect.DeepEqual(first, other) {
		t.Fatal("a different profile got the same program")
	}
}
