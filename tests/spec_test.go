package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// `berth spec` lists the namespaces `runc spec` lists on the same host: a
// cgroup namespace only where cgroup v2 is the whole tree, so that scripts
// adding one to a generated config work with both (#22).
func TestSpecNamespacesAsRunc(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	e := newEnv(t)
	namespaces := func(dir string) []specs.LinuxNamespaceType {
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s specs.Spec
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		var out []specs.LinuxNamespaceType
		for _, n := range s.Linux.Namespaces {
			out = append(out, n.Type)
		}
		return out
	}
	ours, theirs := t.TempDir(), t.TempDir()
	e.mustBerth("spec", "--bundle", ours)
	if out, err := exec.Command(runc, "spec", "--bundle", theirs).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	if got, want := namespaces(ours), namespaces(theirs); !reflect.DeepEqual(got, want) {
		t.Errorf("berth spec namespaces %v, runc spec %v", got, want)
	}
	var st struct{ unified bool }
	_, err = os.Stat("/sys/fs/cgroup/cgroup.controllers")
	st.unified = err == nil
	hasCgroupNS := false
	for _, n := range namespaces(ours) {
		hasCgroupNS = hasCgroupNS || n == specs.CgroupNamespace
	}
	if hasCgroupNS != st.unified {
		t.Errorf("cgroup namespace in berth spec: %v on a host where cgroup v2 is the whole tree: %v", hasCgroupNS, st.unified)
	}
}
