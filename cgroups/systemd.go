package cgroups

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/dbus"
)

// The systemd driver (--systemd-cgroup), the part that needs no systemd:
// the "slice:prefix:name" cgroupsPath and the resources as unit
// properties, with runc's conversions (opencontainers/cgroups systemd/v2.go
// and common.go). sdunit.go talks to systemd.

// scopePrefix names a scope when linux.cgroupsPath is empty: ":berth:<id>"
// as runc's is ":runc:<id>".
const scopePrefix = "berth"

// defCPUQuotaPeriod is the kernel's default period, 100 ms in microseconds.
const defCPUQuotaPeriod = 100000

// sdProp is one systemd unit property, an "(sv)".
type sdProp struct {
	Name  string
	Value dbus.Variant
}

func prop(name, sig string, v any) sdProp {
	return sdProp{Name: name, Value: dbus.Variant{Sig: sig, Value: v}}
}

// parseSystemdPath splits cgroupsPath "slice:prefix:name" into the slice
// and the scope's unit name. An empty path is ":berth:<id>"; an empty slice
// is system.slice, or user.slice in a user's manager.
func parseSystemdPath(path, id string, rootless bool) (slice, unit string, err error) {
	if path == "" {
		path = ":" + scopePrefix + ":" + id
	}
	parts := strings.Split(path, ":")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: --systemd-cgroup needs the form \"slice:prefix:name\"", path)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
		if rootless {
			slice = "user.slice"
		}
	}
	if _, err := expandSlice(slice); err != nil {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: %w", path, err)
	}
	if strings.HasSuffix(name, ".slice") {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: berth makes a scope for a container, not a slice", path)
	}
	unit = name + ".scope"
	if prefix != "" {
		unit = prefix + "-" + unit
	}
	if name == "" || !validUnitName(unit) {
		return "", "", fmt.Errorf("linux.cgroupsPath %q: %q is not a valid systemd unit name", path, unit)
	}
	return slice, unit, nil
}

// validUnitName: systemd's unit name characters, at most 255 of them.
func validUnitName(s string) bool {
	if len(s) > 255 || strings.HasPrefix(s, ".") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return false
		}
	}
	return true
}

// expandSlice is the cgroup path of a slice: "a-b.slice" is
// "/a.slice/a-b.slice", "-.slice" the root.
func expandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || strings.Contains(slice, "/") || !validUnitName(slice) {
		return "", fmt.Errorf("%q is not a slice name", slice)
	}
	if name == "-" {
		return "/", nil
	}
	var path, prefix string
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			return "", fmt.Errorf("%q is not a slice name", slice)
		}
		path += "/" + prefix + part + ".slice"
		prefix += part + "-"
	}
	return path, nil
}

// scopeProps are the properties a scope starts with: its place, its
// first process, delegation, accounting, and the limits.
func scopeProps(id, slice string, pid int, limits []sdProp) []sdProp {
	t := true
	return append([]sdProp{
		prop("Description", "s", "berth container "+id),
		prop("Slice", "s", slice),
		prop("Delegate", "b", t),
		prop("PIDs", "au", []uint32{uint32(pid)}),
		prop("MemoryAccounting", "b", t),
		prop("CPUAccounting", "b", t),
		prop("IOAccounting", "b", t),
		prop("TasksAccounting", "b", t),
		prop("DefaultDependencies", "b", false),
	}, limits...)
}

// resourceProps turns linux.resources into unit properties. The same
// limits are written to the scope's files afterwards, as runc does, which
// covers what has no property.
func resourceProps(r *specs.LinuxResources) ([]sdProp, error) {
	if r == nil {
		return nil, nil
	}
	var out []sdProp
	u64 := func(name string, v int64) { out = append(out, prop(name, "t", uint64(v))) } // -1: infinity
	if m := r.Memory; m != nil {
		var limit, swap int64
		if m.Limit != nil {
			limit = *m.Limit
		}
		if m.Swap != nil {
			swap = *m.Swap
		}
		if limit != 0 {
			u64("MemoryMax", limit)
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			u64("MemoryLow", *m.Reservation)
		}
		v2swap, err := swapV2(limit, swap)
		if err != nil {
			return nil, err
		}
		if v2swap != 0 {
			u64("MemorySwapMax", v2swap)
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			out = append(out, prop("CPUWeight", "t", sharesToWeight(*c.Shares)))
		}
		var quota int64
		var period uint64
		if c.Quota != nil {
			quota = *c.Quota
		}
		if c.Period != nil {
			period = *c.Period
		}
		out = append(out, cpuQuotaProps(quota, period)...)
		for _, set := range []struct{ name, list string }{{"AllowedCPUs", c.Cpus}, {"AllowedMemoryNodes", c.Mems}} {
			if set.list == "" {
				continue
			}
			bits, err := rangeToBits(set.list)
			if err != nil {
				return nil, fmt.Errorf("linux.resources.cpu: %s %q: %w", set.name, set.list, err)
			}
			out = append(out, prop(set.name, "ay", bits))
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		switch l := *p.Limit; {
		case l < 0:
			u64("TasksMax", -1)
		case l == 0:
			u64("TasksMax", 1) // as the file gets (limits.go)
		default:
			u64("TasksMax", l)
		}
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		// v1's 10-1000 onto v2's 1-10000, as runc converts it.
		out = append(out, prop("IOWeight", "t", 1+(uint64(*b.Weight)-10)*9999/990))
	}
	unified, err := unifiedProps(r.Unified)
	return append(out, unified...), err
}

// cpuQuotaProps: CPUQuotaPerSecUSec is quota per period in microseconds
// per second, rounded up to 10 ms (systemd keeps it as a percentage).
func cpuQuotaProps(quota int64, period uint64) []sdProp {
	var out []sdProp
	if period != 0 {
		out = append(out, prop("CPUQuotaPeriodUSec", "t", period))
	}
	if quota != 0 || period != 0 {
		perSec := uint64(math.MaxUint64)
		if quota > 0 {
			if period == 0 {
				period = defCPUQuotaPeriod
			}
			perSec = uint64(quota) * 1000000 / period
			if perSec%10000 != 0 {
				perSec = (perSec/10000 + 1) * 10000
			}
		}
		out = append(out, prop("CPUQuotaPerSecUSec", "t", perSec))
	}
	return out
}

// unifiedProps converts the linux.resources.unified files that have a
// property; the others reach the scope's files only.
func unifiedProps(files map[string]string) ([]sdProp, error) {
	names := map[string]string{
		"memory.high": "MemoryHigh", "memory.low": "MemoryLow", "memory.min": "MemoryMin",
		"memory.max": "MemoryMax", "memory.swap.max": "MemorySwapMax", "pids.max": "TasksMax",
		"cpu.weight": "CPUWeight",
	}
	var out []sdProp
	for file, v := range files {
		name, ok := names[file]
		if !ok {
			continue
		}
		n := uint64(math.MaxUint64)
		if v = strings.TrimSpace(v); v != "max" || name == "CPUWeight" {
			var err error
			if n, err = strconv.ParseUint(v, 10, 64); err != nil {
				return nil, fmt.Errorf("linux.resources.unified[%q] %q: not a number", file, v)
			}
		}
		out = append(out, prop(name, "t", n))
	}
	return out, nil
}

// rangeToBits turns a cpuset list ("0-3,5") into systemd's bitmask: byte
// 0 holds CPUs 0-7, lowest bit first.
func rangeToBits(list string) ([]byte, error) {
	var out []byte
	for _, r := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(r), "-")
		start, err := strconv.ParseUint(lo, 10, 32)
		end := start
		if err == nil && isRange {
			end, err = strconv.ParseUint(hi, 10, 32)
		}
		if err != nil || end < start || end > 1<<16 {
			return nil, errors.New("not a list of numbers and ranges")
		}
		for i := start; i <= end; i++ {
			for uint64(len(out)) <= i/8 {
				out = append(out, 0)
			}
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out, nil
}

// scopeDir is the scope's cgroup directory below the v2 mount; base is the
// cgroup of the manager that owns the slice ("/" for the system's).
func scopeDir(base, slice, unit string) (string, error) {
	sp, err := expandSlice(slice)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cgroupRoot, base, sp, unit)
	if !within(cgroupRoot, dir) {
		return "", fmt.Errorf("%s is not below %s", dir, cgroupRoot)
	}
	return dir, nil
}
