package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Huge page limits: hugepageLimits[].pageSize names a file
// ("hugetlb.<size>.limit_in_bytes"), so it must be a size and nothing else
// (S4 in docs/security.md), and one this host has.

var pageSizeRE = regexp.MustCompile(`^[1-9][0-9]*[KMGTP]B$`)

// hugetlbSteps writes each limit, and its reservation limit where the
// kernel has one.
func hugetlbSteps(limits []specs.LinuxHugepageLimit, v2 bool) ([]step, error) {
	var out []step
	for _, h := range limits {
		if !pageSizeRE.MatchString(h.Pagesize) {
			return nil, fmt.Errorf("linux.resources.hugepageLimits: pageSize %q is not a size such as 2MB", h.Pagesize)
		}
		file, rsvd := "hugetlb."+h.Pagesize+".limit_in_bytes", "hugetlb."+h.Pagesize+".rsvd.limit_in_bytes"
		if v2 {
			file, rsvd = "hugetlb."+h.Pagesize+".max", "hugetlb."+h.Pagesize+".rsvd.max"
		}
		v := strconv.FormatUint(h.Limit, 10)
		ctrl := v1name("hugetlb", v2)
		out = append(out, step{ctrl: ctrl, file: file, value: v}, step{ctrl: ctrl, file: rsvd, value: v, optional: true})
	}
	return out, nil
}

// checkPageSizes refuses a page size the host does not have.
func checkPageSizes(limits []specs.LinuxHugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	have, err := hostPageSizes()
	if err != nil {
		return fmt.Errorf("linux.resources.hugepageLimits: %w", err)
	}
	for _, h := range limits {
		if !slices.Contains(have, h.Pagesize) {
			return fmt.Errorf("linux.resources.hugepageLimits: pageSize %q is not a huge page size of this host (it has %s)", h.Pagesize, strings.Join(have, ", "))
		}
	}
	return nil
}

// hostPageSizes lists the huge page sizes of /sys/kernel/mm/hugepages
// ("hugepages-2048kB") in the cgroup files' form ("2MB"), as runc names them.
func hostPageSizes() ([]string, error) {
	ents, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		kb, ok2 := strings.CutSuffix(kb, "kB")
		if n, err := strconv.ParseUint(kb, 10, 64); ok && ok2 && err == nil && n > 0 {
			out = append(out, pageSizeName(n))
		}
	}
	return out, nil
}

// pageSizeName writes n KiB with the largest binary unit that divides it.
func pageSizeName(kb uint64) string {
	units := []string{"KB", "MB", "GB", "TB", "PB"}
	i := 0
	for kb%1024 == 0 && i < len(units)-1 {
		kb /= 1024
		i++
	}
	return strconv.FormatUint(kb, 10) + units[i]
}

// hugetlbOnUnified moves the hugetlb steps of a hybrid host that has no v1
// hugetlb hierarchy into the unified one, when its root offers the
// controller (a kernel with hugetlb in cgroup2 only): the v2 file names,
// with the controller enabled from the mount down to the container's
// cgroup first. Elsewhere steps are returned as they are.
func hugetlbOnUnified(steps []step) []step {
	if host.v2 == nil || host.unified {
		return steps
	}
	if _, ok := host.v1["hugetlb"]; ok {
		return steps
	}
	if avail, err := readFile(host.v2.mountpoint, "cgroup.controllers"); err != nil || !slices.Contains(strings.Fields(avail), "hugetlb") {
		return steps
	}
	var out []step
	enabled := false
	for _, s := range steps {
		if s.ctrl == "hugetlb" {
			if !enabled {
				out = append(out, step{ctrl: "", run: func(dir string) error { return enableDown(dir, "hugetlb") }})
				enabled = true
			}
			s.ctrl = ""
			s.file = strings.TrimSuffix(s.file, ".limit_in_bytes") + ".max"
		}
		out = append(out, s)
	}
	return out
}

// enableDown enables ctrl in cgroup.subtree_control of every cgroup from
// the unified mount down to dir's parent, so that dir has its files.
func enableDown(dir, ctrl string) error {
	mnt := host.v2.mountpoint
	rel, err := filepath.Rel(mnt, filepath.Dir(dir))
	if err != nil || !within(mnt, dir) {
		return fmt.Errorf("cgroup %s is not below %s", dir, mnt)
	}
	cur := mnt
	for _, name := range append([]string{"."}, strings.Split(rel, "/")...) {
		cur = filepath.Join(cur, name)
		on, err := readFile(cur, "cgroup.subtree_control")
		if err != nil {
			return err
		}
		if slices.Contains(strings.Fields(on), ctrl) {
			continue
		}
		if err := writeFile(cur, "cgroup.subtree_control", "+"+ctrl); err != nil {
			return fmt.Errorf("enable the %s controller for %s: %w", ctrl, dir, err)
		}
	}
	return nil
}
