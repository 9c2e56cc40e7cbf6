package pull

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type entry struct {
	h    tar.Header
	body string
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.h
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func reg(name, body string) entry {
	return entry{h: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod, chown, trusted xattrs)")
	}
}

// Entries cannot leave the layer: not by "..", an absolute path, or a
// symlink the layer made to a host directory.
func TestUnpackStaysInside(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	dir := t.TempDir()
	data := tarOf(t,
		reg("../../escape1", "x"),
		reg("/abs/escape2", "x"),
		entry{h: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside}},
		reg("link/escape3", "x"),
		entry{h: tar.Header{Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "../../../../" + outside}},
		reg("rel/escape4", "x"),
		entry{h: tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../../../etc/hostname"}},
	)
	err := Unpack(bytes.NewReader(data), dir, nil)
	if err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Fatalf("a hard link to a host file: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written outside the layer: %v", ents)
	}
	for _, p := range []string{"escape1", "abs/escape2", filepath.Join(outside[1:], "escape3"), filepath.Join(outside[1:], "escape4")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not inside the layer: %v", p, err)
		}
	}
}

// Whiteouts become overlay whiteouts (0/0 character devices), opaque
// directories get trusted.overlay.opaque, a hard link to a lower layer's
// file is a copy, and a layer's own overlay xattrs are dropped.
func TestUnpackOverlayForm(t *testing.T) {
	needRoot(t)
	lower, dir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(lower, "base"), []byte("from below"), 0o640)
	data := tarOf(t,
		entry{h: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8}},
		reg("d/.wh..wh..opq", ""),
		reg(".wh.gone", ""),
		entry{h: tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: "base"}},
		entry{h: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 5, Gid: 6,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}}, body: "f"},
		entry{h: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
	)
	if err := Unpack(bytes.NewReader(data), dir, []string{lower}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: %v %+v", err, st)
	}
	buf := make([]byte, 8)
	if n, err := unix.Getxattr(filepath.Join(dir, "d"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque dir: %v", err)
	}
	unix.Lstat(filepath.Join(dir, "d"), &st)
	if st.Mode&0o7777 != 0o750 || st.Uid != 7 || st.Gid != 8 {
		t.Errorf("dir metadata: %o %d %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hl")); string(b) != "from below" {
		t.Errorf("hard link to a lower file: %q", b)
	}
	unix.Lstat(filepath.Join(dir, "f"), &st)
	if st.Mode&0o7777 != 0o4755 || st.Uid != 5 || st.Gid != 6 {
		t.Errorf("file metadata: %o %d %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	if n, err := unix.Getxattr(filepath.Join(dir, "f"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("xattr: %v", err)
	}
	if _, err := unix.Getxattr(filepath.Join(dir, "f"), "trusted.overlay.opaque", buf); err == nil {
		t.Error("a layer set an overlay xattr")
	}
	unix.Lstat(filepath.Join(dir, "null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("device: %+v", st)
	}
}

func TestVerifier(t *testing.T) {
	data := []byte("some blob")
	sum := sha256.Sum256(data)
	good := "sha256:" + hex.EncodeToString(sum[:])
	if _, err := io.ReadAll(newVerifier("b", bytes.NewReader(data), good, int64(len(data)))); err != nil {
		t.Errorf("good blob: %v", err)
	}
	bad := append([]byte{}, data...)
	bad[3] ^= 1
	if _, err := io.ReadAll(newVerifier("b", bytes.NewReader(bad), good, int64(len(data)))); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("changed byte: %v", err)
	}
	if _, err := io.ReadAll(newVerifier("b", bytes.NewReader(data[:4]), good, int64(len(data)))); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := io.ReadAll(newVerifier("b", bytes.NewReader(append(data, 'x')), good, int64(len(data)))); err == nil {
		t.Error("longer than the manifest says: no error")
	}
}

// A path through a lower layer's symlink lands where the symlink points,
// as in the merged rootfs: lib/x over a lower lib -> usr/lib is usr/lib/x.
func TestUnpackFollowsLowerSymlinks(t *testing.T) {
	needRoot(t)
	lower, dir := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(lower, "usr", "lib"), 0o755)
	os.Symlink("usr/lib", filepath.Join(lower, "lib"))
	os.Symlink("/usr/lib", filepath.Join(lower, "abslib"))
	data := tarOf(t, reg("lib/x.so", "x"), reg("abslib/y.so", "y"), reg("usr/lib/z.so", "z"))
	if err := Unpack(bytes.NewReader(data), dir, []string{lower}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"usr/lib/x.so", "usr/lib/y.so", "usr/lib/z.so"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Below an opaque directory nothing of the lower layers counts.
	dir2 := t.TempDir()
	os.MkdirAll(filepath.Join(lower, "o", "usr"), 0o755)
	os.Symlink("usr", filepath.Join(lower, "o", "l"))
	data = tarOf(t, entry{h: tar.Header{Name: "o/", Typeflag: tar.TypeDir, Mode: 0o755}}, reg("o/.wh..wh..opq", ""), reg("o/l/f", "f"))
	if err := Unpack(bytes.NewReader(data), dir2, []string{lower}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "o", "l", "f")); err != nil {
		t.Errorf("under an opaque dir, a lower symlink was followed: %v", err)
	}
	for _, d := range []string{"lib", "abslib"} {
		if _, err := os.Lstat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("%s made in the layer, shadowing the lower symlink: %v", d, err)
		}
	}
}
