package tests

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// httpdImage is one layer of busybox whose Cmd serves /www/index.html
// ("hello from image") with busybox httpd on port 80.
func httpdImage(t *testing.T) v1.Image {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	entries := []tarEntry{
		dir("bin/"), dir("etc/"), dir("www/"), dir("tmp/"), dir("proc/"), dir("sys/"), dir("dev/"),
		{hdr: tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, body: bb},
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
		file("etc/group", "root:x:0:\n"),
		file("www/index.html", "hello from image\n"),
	}
	for _, applet := range []string{"sh", "httpd", "cat", "ip"} {
		entries = append(entries, tarEntry{hdr: tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox"}})
	}
	oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(oci, layerOf(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Cmd: []string{"httpd", "-f", "-p", "80", "-h", "/www"}, Env: []string{"PATH=/bin"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestImageNetworkPublish: run -d --image with --network bridge and -p
// serves the image's httpd on 127.0.0.1:PORT; after delete the port is
// dead, the generated bundle is gone and the network left nothing.
func TestImageNetworkPublish(t *testing.T) {
	data := t.TempDir()
	t.Setenv("BERTH_DATA_DIR", data)
	n := newNetEnv(t)
	lay := writeLayout(t, httpdImage(t), "v1")
	n.mustBerth("image", "pull", "oci:"+lay+":v1", "h17/httpd:v1")
	id := "h17-imgnet-web"
	n.ids[id] = true
	port := freePort(t)
	n.mustBerth("run", "-d", "--image", "h17/httpd:v1", "--network", "bridge", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), id)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var body string
	waitFor(t, 5*time.Second, "the image's httpd on the published port", func() bool {
		body, _ = httpGet(url)
		return body == "hello from image\n"
	})
	ips, _ := n.stateNetwork(id)
	if len(ips) != 1 {
		t.Fatalf("state records addresses %v, want one in %s", ips, n.subnet)
	}
	bundle := filepath.Join(data, "containers", id)
	if _, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil {
		t.Fatalf("generated bundle: %v", err)
	}
	n.mustBerth("delete", "--force", id)
	if _, err := httpGet(url); err == nil {
		t.Errorf("port %d still answers after delete", port)
	}
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Errorf("delete left the generated bundle: %v", err)
	}
	if c := mountsMentioning(t, bundle); c != 0 {
		t.Errorf("%d mounts left under %s", c, bundle)
	}
	if _, err := os.Stat(filepath.Join(n.root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	n.assertNetNothingLeft(port)
}
