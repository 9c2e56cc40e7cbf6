package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No name or directory steers a cgroup write out of the cgroup tree.
func TestWriteFileConfined(t *testing.T) {
	if err := loadHost(); err != nil {
		t.Skip(err)
	}
	outside := t.TempDir()
	target := filepath.Join(outside, "x.max")
	mnt := host.v2
	if mnt == nil {
		h := host.v1["devices"]
		mnt = &h
	}
	rel, _ := filepath.Rel(mnt.mountpoint, outside)
	for _, tc := range []struct{ dir, file string }{
		{outside, "x.max"},
		{mnt.mountpoint, "hugetlb.2MB/" + rel + "/x.max"},
		{mnt.mountpoint, "../../../../" + outside + "/x.max"},
		{filepath.Join(mnt.mountpoint, rel), "x.max"},
		{cgroupRoot, "x"}, // the tmpfs of a hybrid host, or no file of v2
		{mnt.mountpoint, ".."},
		{mnt.mountpoint, ""},
	} {
		err := writeFile(tc.dir, tc.file, "1")
		if err == nil || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("writeFile(%q, %q): %v, want one line of error", tc.dir, tc.file, err)
		}
		if _, err := os.Stat(target); err == nil {
			t.Fatalf("writeFile(%q, %q) wrote %s", tc.dir, tc.file, target)
		}
	}
	if _, err := readFile(mnt.mountpoint, "cgroup.procs"); err != nil {
		t.Errorf("read the hierarchy's own cgroup.procs: %v", err)
	}
}
