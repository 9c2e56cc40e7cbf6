// Package mountinfo parses /proc/<pid>/mountinfo, for the cgroup layout
// (cgroups/hier.go) and the mounts berth undoes (rootfs). It is the one
// place that undoes the kernel's octal escapes.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Info is one mount: the fields berth reads of a mountinfo line
// "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
type Info struct {
	Root       string // the path inside the filesystem that the mount shows at its top
	Mountpoint string
	FSType     string
	Source     string
	VFSOptions string // the superblock's options ("rw,cpu,cpuacct" for a v1 cgroup)
}

// Parse reads every mount from r. A line that is not in mountinfo's format
// is an error: a reader that skipped it could miss the mount it looks for.
func Parse(r io.Reader) ([]Info, error) {
	var out []Info
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		info, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, info)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

func parseLine(line string) (Info, error) {
	pre, post, ok := strings.Cut(line, " - ")
	fields, tail := strings.Fields(pre), strings.Fields(post)
	if !ok || len(fields) < 6 || len(tail) < 2 {
		return Info{}, fmt.Errorf("malformed %q", line)
	}
	info := Info{Root: Unescape(fields[3]), Mountpoint: Unescape(fields[4]), FSType: Unescape(tail[0]), Source: Unescape(tail[1])}
	if len(tail) > 2 {
		info.VFSOptions = Unescape(tail[2])
	}
	return info, nil
}

// Unescape undoes the kernel's escapes of a mountinfo field: a backslash
// and three octal digits (\040 space, \011 tab, \012 newline, \134
// backslash). Anything else, a backslash not followed by three octal digits
// or a value above 0377, is kept as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if v, ok := octal(s[i+1:]); s[i] == '\\' && ok {
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// octal reads three octal digits at the start of s, up to 0377.
func octal(s string) (byte, bool) {
	if len(s) < 3 {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[:3]) {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v <= 0o377
}
