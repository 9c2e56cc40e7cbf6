package tests

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageCmd is what the test image's Cmd prints: a file the top layer
// changed, one it whited out, the contents of a directory it made opaque,
// the user, groups, working directory and an Env variable.
var imageCmd = []string{"sh", "-c", `cat /etc/msg.txt; ls /etc/gone.txt 2>&1 | grep -c 'No such'; ls /data; id -u; id -g; id -G; pwd; echo "$GREETING"`}

// wantImageOut is imageCmd's output in a container of the test image.
const wantImageOut = "new\n1\nb\n1000\n1000\n1000 2000\n/home/app\nhello\n"

type tarEntry struct {
	hdr  tar.Header
	body []byte
}

func layerOf(t *testing.T, entries []tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dir(name string) tarEntry { return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir}} }
func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: []byte(body)}
}

// testImage is two layers over busybox: the second whites out
// /etc/gone.txt, changes /etc/msg.txt and makes /data opaque. Its config
// runs imageCmd as user app in /home/app.
func testImage(t *testing.T) v1.Image {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	base := []tarEntry{
		dir("bin/"), dir("etc/"), dir("home/"), dir("data/"), dir("tmp/"), dir("proc/"), dir("sys/"), dir("dev/"),
		{hdr: tar.Header{Name: "home/app/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1000}},
		{hdr: tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, body: bb},
		{hdr: tar.Header{Name: "bin/busybox-hl", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}},
		{hdr: tar.Header{Name: "etc/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}},
		{hdr: tar.Header{Name: "etc/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}},
		{hdr: tar.Header{Name: "etc/xattr.txt", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.berth": "yes"}}, body: []byte("x")},
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"),
		file("etc/gone.txt", "bye\n"), file("etc/msg.txt", "old\n"), file("data/a", "a\n"),
	}
	for _, applet := range []string{"sh", "cat", "ls", "id", "pwd", "echo", "grep", "env", "true"} {
		base = append(base, tarEntry{hdr: tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox"}})
	}
	base = append(base, tarEntry{hdr: tar.Header{Name: "sbin", Typeflag: tar.TypeSymlink, Linkname: "bin"}})
	top := []tarEntry{
		file("sbin/tool", "through the lower layer's symlink\n"),
		dir("etc/"), file("etc/.wh.gone.txt", ""), file("etc/msg.txt", "new\n"),
		dir("data/"), file("data/.wh..wh..opq", ""), file("data/b", "b\n"),
	}
	oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(oci, layerOf(t, base), layerOf(t, top))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{
		Cmd: imageCmd, User: "app", WorkingDir: "/home/app", Env: []string{"PATH=/bin", "GREETING=hello"},
		StopSignal: "SIGQUIT", ExposedPorts: map[string]struct{}{"8080/tcp": {}}, Labels: map[string]string{"h9.label": "yes"},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes img as an OCI layout tagged tag.
func writeLayout(t *testing.T, img v1.Image, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// imageEnv is newEnv with a data directory of the test's own; it is made
// first, so that it is removed after newEnv's cleanup deleted the
// containers (and unmounted their rootfs).
func imageEnv(t *testing.T) (*env, string) {
	data := t.TempDir()
	t.Setenv("BERTH_DATA_DIR", data)
	return newEnv(t), data
}

func runImage(e *env, id string, args ...string) (string, string, int) {
	e.ids[id] = true
	return e.berth(append([]string{"run", "--image"}, args...)...)
}

func TestImageFromOCILayout(t *testing.T) {
	e, data := imageEnv(t)
	lay := writeLayout(t, testImage(t), "v1")
	out := e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/test:v1")
	if !strings.Contains(out, "\nh9/test:v1 sha256:") {
		t.Fatalf("pull printed %q", out)
	}
	if ls := e.mustBerth("image", "ls"); !strings.Contains(ls, "h9/test:v1") {
		t.Fatalf("image ls: %q", ls)
	}
	out, errs, code := runImage(e, "h9-img-1", "h9/test:v1", "h9-img-1")
	if code != 0 || out != wantImageOut {
		t.Fatalf("run --image: exit %d, stdout %q (want %q), stderr %q", code, out, wantImageOut, errs)
	}
	// Arguments after the ID replace Cmd.
	out, errs, code = runImage(e, "h9-img-2", "h9/test:v1", "h9-img-2", "echo", "replaced", "-n")
	if code != 0 || out != "replaced -n\n" {
		t.Fatalf("run --image with a command: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A foreground run leaves no bundle behind; nor do the layers move.
	if left, _ := os.ReadDir(filepath.Join(data, "containers")); len(left) != 0 {
		t.Fatalf("generated bundles left after run: %v", left)
	}
	// The pull again finds every layer unpacked.
	out, errs, code = e.berth("image", "pull", "oci:"+lay+":v1", "h9/test:v1")
	if code != 0 || strings.Count(out, "already unpacked") != 2 {
		t.Fatalf("second pull: exit %d, %q %q", code, out, errs)
	}
}

func TestImageCreateDeleteRemovesUpper(t *testing.T) {
	e, data := imageEnv(t)
	lay := writeLayout(t, testImage(t), "v1")
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/test:v1")
	e.ids["h9-img-del"] = true
	e.mustBerth("create", "--image", "h9/test:v1", "h9-img-del", "sh", "-c", "echo hi > /home/app/new")
	st := e.state("h9-img-del")
	bundle, _ := st["bundle"].(string)
	if bundle != filepath.Join(data, "containers", "h9-img-del") {
		t.Fatalf("bundle %q", bundle)
	}
	ann, _ := st["annotations"].(map[string]any)
	if ann["org.opencontainers.image.stopSignal"] != "SIGQUIT" || ann["org.opencontainers.image.exposedPorts"] != "8080/tcp" || ann["h9.label"] != "yes" {
		t.Errorf("annotations: %v", ann)
	}
	compareWithUmoci(t, lay, filepath.Join(bundle, "rootfs"))
	e.mustBerth("start", "h9-img-del")
	e.waitStatus("h9-img-del", "stopped")
	if b, err := os.ReadFile(filepath.Join(bundle, "upper", "home", "app", "new")); err != nil || string(b) != "hi\n" {
		t.Fatalf("the container's write is not in its upper dir: %q %v", b, err)
	}
	e.mustBerth("delete", "h9-img-del")
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Fatalf("delete left the generated bundle (upper dir): %v", err)
	}
	if n := mountsMentioning(t, bundle); n != 0 {
		t.Fatalf("%d mounts left under %s", n, bundle)
	}
	// delete --force of one whose state.json cannot be read removes its
	// generated bundle too.
	e.ids["h9-img-corrupt"] = true
	e.mustBerth("create", "--image", "h9/test:v1", "h9-img-corrupt")
	bundle = filepath.Join(data, "containers", "h9-img-corrupt")
	if err := os.WriteFile(filepath.Join(e.root, "h9-img-corrupt", "state.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustBerth("delete", "--force", "h9-img-corrupt")
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Fatalf("delete --force of a corrupt state left the generated bundle: %v", err)
	}
	if n := mountsMentioning(t, bundle); n != 0 {
		t.Fatalf("%d mounts left under %s", n, bundle)
	}
}

// compareWithUmoci checks that the rootfs lists the same files as
// `umoci unpack` of the same image.
func compareWithUmoci(t *testing.T, lay, rootfs string) {
	t.Helper()
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Log("umoci not installed: file list not compared")
		return
	}
	dst := filepath.Join(t.TempDir(), "umoci")
	if out, err := exec.Command("umoci", "unpack", "--image", lay+":v1", dst).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v: %s", err, out)
	}
	want, got := fileList(t, filepath.Join(dst, "rootfs")), fileList(t, rootfs)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("file list differs from umoci's:\numoci: %v\nberth: %v", want, got)
	}
}

// fileList is every path under dir with its type, permissions and owner.
func fileList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			out = append(out, rel+" "+fi.Mode().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestImageFromDockerArchive(t *testing.T) {
	e, _ := imageEnv(t)
	img := testImage(t)
	archive := filepath.Join(t.TempDir(), "img.tar")
	if _, err := exec.LookPath("skopeo"); err == nil {
		lay := writeLayout(t, img, "v1")
		if out, err := exec.Command("skopeo", "copy", "oci:"+lay+":v1", "docker-archive:"+archive+":h9/archived:v2").CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy: %v: %s", err, out)
		}
	} else {
		tag, _ := name.NewTag("h9/archived:v2")
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			t.Fatal(err)
		}
	}
	out := e.mustBerth("image", "pull", "docker-archive:"+archive)
	if !strings.Contains(out, "h9/archived:v2") {
		t.Fatalf("pull named the image %q", out)
	}
	out, errs, code := runImage(e, "h9-img-arch", "h9/archived:v2", "h9-img-arch")
	if code != 0 || out != wantImageOut {
		t.Fatalf("run --image: exit %d, stdout %q (want %q), stderr %q", code, out, wantImageOut, errs)
	}
}

// A blob with one byte changed is refused, and nothing of the image is left.
func TestImageDigestMismatch(t *testing.T) {
	e, data := imageEnv(t)
	img := testImage(t)
	lay := writeLayout(t, img, "v1")
	layers, _ := img.Layers()
	d, _ := layers[1].Digest()
	blob := filepath.Join(lay, "blobs", d.Algorithm, d.Hex)
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e.expectRefused([]string{"digest mismatch", d.String()}, "image", "pull", "oci:"+lay+":v1", "h9/bad")
	if ls := e.mustBerth("image", "ls"); strings.Contains(ls, "h9/bad") {
		t.Fatalf("image ls lists the refused image: %q", ls)
	}
	assertNoPartial(t, data, layers[1])
}

// assertNoPartial: no pull's tmp directory and no unpacked dir of layer l.
func assertNoPartial(t *testing.T, data string, l v1.Layer) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(data, "tmp")); len(left) != 0 {
		t.Fatalf("tmp/ not empty after a failed pull: %v", left)
	}
	if l != nil {
		diff, _ := l.DiffID()
		if _, err := os.Stat(filepath.Join(data, "layers", "sha256", diff.Hex)); !os.IsNotExist(err) {
			t.Fatalf("the refused layer is in the store: %v", err)
		}
	}
}

// Bad sources give one line each and leave nothing; the store is not left
// locked (image rm, which takes the lock exclusively, still works).
func TestImageBadSources(t *testing.T) {
	e, data := imageEnv(t)
	img := testImage(t)
	archive := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("h9/archived:v2")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(archive)
	if err := os.Truncate(archive, fi.Size()*2/3); err != nil {
		t.Fatal(err)
	}
	e.expectRefused([]string{"docker-archive:" + archive}, "image", "pull", "docker-archive:"+archive, "h9/trunc")
	e.expectRefused([]string{"unknown transport", "containers-storage"}, "image", "pull", "containers-storage:busybox")
	e.expectRefused([]string{"no such file"}, "image", "pull", "oci:/nonexistent/h9:v1")
	lay := writeLayout(t, img, "v1")
	e.expectRefused([]string{"no image tagged", "v9"}, "image", "pull", "oci:"+lay+":v9")
	e.expectRefused([]string{"no such image", "h9/none"}, "run", "--image", "h9/none", "h9-img-none")
	// A create that fails after the bundle was made (the ID is taken by a
	// plain container) removes the generated bundle again.
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/dup")
	e.ids["h9-img-dup"] = true
	e.mustBerth("create", "-b", e.bundle([]string{"true"}), "h9-img-dup")
	for _, verb := range [][]string{{"create"}, {"run"}, {"run", "-d"}} {
		args := append(append([]string{}, verb...), "--image", "h9/dup", "h9-img-dup")
		if _, errs, code := e.berth(args...); code == 0 || !strings.Contains(errs, "h9-img-dup") {
			t.Fatalf("%v with a taken ID: exit %d, %q", verb, code, errs)
		}
		if left, _ := os.ReadDir(filepath.Join(data, "containers")); len(left) != 0 {
			t.Fatalf("%v with a taken ID left a generated bundle: %v", verb, left)
		}
	}
	e.mustBerth("delete", "h9-img-dup")
	e.mustBerth("image", "rm", "h9/dup")
	assertNoPartial(t, data, nil)
	if ls := e.mustBerth("image", "ls"); strings.Count(ls, "\n") != 1 {
		t.Fatalf("image ls after failed pulls: %q", ls)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "layers", "sha256")); len(left) > 1 {
		t.Fatalf("layers left after failed pulls: %v", left)
	}
	// Nothing holds the store lock: a pull (shared) and an rm (exclusive) go through.
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/ok")
	e.mustBerth("image", "rm", "h9/ok")
}

func TestImageRmThenRun(t *testing.T) {
	e, data := imageEnv(t)
	lay := writeLayout(t, testImage(t), "v1")
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/rm:v1")
	// rm while a container uses the image keeps the layers under its rootfs.
	e.ids["h9-img-inuse"] = true
	e.mustBerth("create", "--image", "h9/rm:v1", "h9-img-inuse")
	e.mustBerth("image", "rm", "h9/rm:v1")
	if left, _ := os.ReadDir(filepath.Join(data, "layers", "sha256")); len(left) != 2 {
		t.Fatalf("rm removed layers a container uses: %v", left)
	}
	rootfs := filepath.Join(data, "containers", "h9-img-inuse", "rootfs")
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc", "msg.txt")); err != nil || string(b) != "new\n" {
		t.Fatalf("the container's rootfs after rm: %q %v", b, err)
	}
	e.mustBerth("delete", "h9-img-inuse")
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/rm:v1")
	e.mustBerth("image", "rm", "h9/rm:v1")
	if ls := e.mustBerth("image", "ls"); strings.Contains(ls, "h9/rm") {
		t.Fatalf("image ls after rm: %q", ls)
	}
	if left, _ := os.ReadDir(filepath.Join(data, "layers", "sha256")); len(left) != 0 {
		t.Fatalf("rm left layers nothing uses: %v", left)
	}
	e.ids["h9-img-rm"] = true
	e.expectRefused([]string{"no such image", "h9/rm:v1"}, "run", "--image", "h9/rm:v1", "h9-img-rm")
	e.expectRefused([]string{"no such image", "h9/rm:v1"}, "image", "rm", "h9/rm:v1")
}

// Two pulls of one image at once both succeed and store it once.
func TestImageConcurrentPulls(t *testing.T) {
	e, data := imageEnv(t)
	lay := writeLayout(t, testImage(t), "v1")
	var wg sync.WaitGroup
	errs := make([]string, 4)
	codes := make([]int, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = e.berth("image", "pull", "oci:"+lay+":v1", "h9/conc:v1")
		}()
	}
	wg.Wait()
	for i := range errs {
		if codes[i] != 0 {
			t.Fatalf("pull %d: exit %d: %s", i, codes[i], errs[i])
		}
	}
	if left, _ := os.ReadDir(filepath.Join(data, "layers", "sha256")); len(left) != 2 {
		t.Fatalf("layers: %v", left)
	}
	out, errOut, code := runImage(e, "h9-img-conc", "h9/conc:v1", "h9-img-conc")
	if code != 0 || out != wantImageOut {
		t.Fatalf("run --image: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// An image of more layers than fit in mount(2)'s one page of overlay
// options is mounted with fsconfig's lowerdir+, in the right order.
func TestImageManyLayers(t *testing.T) {
	if kernelBefore(6, 8) {
		t.Skip("overlayfs takes lowerdir+ (more layers than one option string holds) from Linux 6.8")
	}
	e, _ := imageEnv(t)
	img := testImage(t)
	var ls []v1.Layer
	for i := 0; i < 60; i++ {
		ls = append(ls, layerOf(t, []tarEntry{file("n", strconv.Itoa(i)), file("l"+strconv.Itoa(i), "x")}))
	}
	img, err := mutate.AppendLayers(img, ls...)
	if err != nil {
		t.Fatal(err)
	}
	lay := writeLayout(t, img, "v1")
	e.mustBerth("image", "pull", "oci:"+lay+":v1", "h9/many")
	out, errs, code := runImage(e, "h9-img-many", "h9/many", "h9-img-many", "sh", "-c", "cat /n; ls /l0 /l59 /etc/msg.txt")
	if code != 0 || out != "59/etc/msg.txt\n/l0\n/l59\n" {
		t.Fatalf("run --image of 62 layers: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
