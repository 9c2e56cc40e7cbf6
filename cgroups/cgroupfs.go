package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// files reads one cgroup directory's files and keeps the first error, so
// that a controller's reader reads on and is checked once.
type files struct {
	dir string
	err error
}

// read parses a file; ok is false if it does not exist or on error.
func read[T any](f *files, name string, parse func(string) (T, error)) (v T, ok bool) {
	if f.err != nil {
		return v, false
	}
	path := filepath.Join(f.dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false
	}
	if err == nil {
		if v, err = parse(string(b)); err == nil {
			return v, true
		}
	}
	f.err = fmt.Errorf("read %s: %w", path, err)
	var zero T
	return zero, false
}

func (f *files) value(name string) uint64 { v, _ := read(f, name, parseValue); return v }

func (f *files) keyed(name string) map[string]uint64 { m, _ := read(f, name, parseKeyed); return m }

// pageSizes lists the huge page sizes named by "hugetlb.<size><suffix>".
func (f *files) pageSizes(suffix string) []string {
	ents, err := os.ReadDir(f.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && f.err == nil {
		f.err = fmt.Errorf("read %s: %w", f.dir, err)
	}
	var sizes []string
	for _, e := range ents {
		size, ok := strings.CutPrefix(e.Name(), "hugetlb.")
		size, ok2 := strings.CutSuffix(size, suffix)
		if ok && ok2 && size != "" && !strings.Contains(size, ".") {
			sizes = append(sizes, size)
		}
	}
	return sizes
}

// parseValue parses a one-number file. "max" (no limit) is MaxUint64 as in
// the library, and a negative count (some kernels' memory counters go
// below zero) is 0.
func parseValue(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if n, err2 := strconv.ParseInt(s, 10, 64); err != nil && n < 0 && (err2 == nil || errors.Is(err2, strconv.ErrRange)) {
		return 0, nil
	}
	return v, err
}

// parseKeyed parses "key value" lines (memory.stat, cpu.stat, memory.events...).
func parseKeyed(s string) (map[string]uint64, error) {
	m := map[string]uint64{}
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %q is not \"key value\"", line)
		}
		n, err := parseValue(v)
		if err != nil {
			return nil, err
		}
		m[k] = n
	}
	return m, nil
}

// parseList parses space-separated numbers (cpuacct.usage_percpu).
func parseList(s string) ([]uint64, error) {
	var l []uint64
	for w := range strings.FieldsSeq(s) {
		n, err := parseValue(w)
		if err != nil {
			return nil, err
		}
		l = append(l, n)
	}
	return l, nil
}

// parseBlkio parses v1 blkio lines "MAJ:MIN [Op] Value"; the "Total N"
// line is a sum over devices, which the document does not carry.
func parseBlkio(s string) ([]BlkioEntry, error) {
	var out []BlkioEntry
	for line := range strings.Lines(s) {
		w := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ':' || r == '\n' })
		if len(w) == 0 || len(w) == 2 && w[0] == "Total" {
			continue
		}
		if len(w) != 3 && len(w) != 4 {
			return nil, fmt.Errorf("malformed line %q", strings.TrimSpace(line))
		}
		var e BlkioEntry
		var err [3]error
		e.Major, err[0] = strconv.ParseUint(w[0], 10, 64)
		e.Minor, err[1] = strconv.ParseUint(w[1], 10, 64)
		if len(w) == 4 {
			e.Op = w[2]
		}
		e.Value, err[2] = strconv.ParseUint(w[len(w)-1], 10, 64)
		if err := errors.Join(err[:]...); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// parseIOStat parses v2 io.stat lines "MAJ:MIN rbytes=N wbytes=N rios=N
// wios=N ..." into v1's layout, as runc does; other keys have no v1 field.
func parseIOStat(s string) (BlkioStats, error) {
	var b BlkioStats
	for line := range strings.Lines(s) {
		w := strings.Fields(line)
		if len(w) < 2 {
			continue
		}
		maj, mnr, ok := strings.Cut(w[0], ":")
		if !ok {
			continue
		}
		major, err1 := strconv.ParseUint(maj, 10, 64)
		minor, err2 := strconv.ParseUint(mnr, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return b, err
		}
		for _, kv := range w[1:] {
			k, v, _ := strings.Cut(kv, "=")
			dst, op := &b.IoServiceBytesRecursive, "Read"
			switch k {
			case "rbytes":
			case "wbytes":
				op = "Write"
			case "rios":
				dst = &b.IoServicedRecursive
			case "wios":
				dst, op = &b.IoServicedRecursive, "Write"
			default:
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return b, err
			}
			*dst = append(*dst, BlkioEntry{Major: major, Minor: minor, Op: op, Value: n})
		}
	}
	return b, nil
}
