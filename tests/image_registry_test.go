package tests

import (
	"bytes"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestImageFromRegistry(t *testing.T) {
	e, _ := imageEnv(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.ParseReference(host+"/h9/reg:v3", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, testImage(t)); err != nil {
		t.Fatal(err)
	}
	e.mustBerth("image", "pull", "--insecure", "docker://"+host+"/h9/reg:v3", "h9/reg")
	out, errs, code := runImage(e, "h9-img-reg", "h9/reg", "h9-img-reg")
	if code != 0 || out != wantImageOut {
		t.Fatalf("run --image: exit %d, stdout %q (want %q), stderr %q", code, out, wantImageOut, errs)
	}
	// A bare REF is a registry too.
	e.mustBerth("image", "pull", "--insecure", host+"/h9/reg:v3")
	if ls := e.mustBerth("image", "ls"); !strings.Contains(ls, host+"/h9/reg:v3") {
		t.Fatalf("image ls: %q", ls)
	}
}

// Credentials come from ~/.docker/config.json, or $REGISTRY_AUTH_FILE.
func TestImageRegistryAuth(t *testing.T) {
	e, _ := imageEnv(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "h9user" || p != "h9pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="h9"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/h9/auth:v1", name.Insecure)
	if err := remote.Write(ref, testImage(t), remote.WithAuth(&authn.Basic{Username: "h9user", Password: "h9pass"})); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	e.expectRefused([]string{"401", host}, "image", "pull", "--insecure", host+"/h9/auth:v1", "h9/auth")
	auth := `{"auths": {"` + host + `": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("h9user:h9pass")) + `"}}}`
	authFile := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(authFile, []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH_FILE", authFile)
	e.mustBerth("image", "pull", "--insecure", host+"/h9/auth:v1", "h9/auth")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	e.mustBerth("image", "rm", "h9/auth")
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustBerth("image", "pull", "--insecure", host+"/h9/auth:v1", "h9/auth")
	out, errs, code := runImage(e, "h9-img-auth", "h9/auth", "h9-img-auth")
	if code != 0 || out != wantImageOut {
		t.Fatalf("run --image: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// A pull stopped by SIGINT (sent to berth, passed on to its puller) leaves
// no image and no tmp/ directory.
func TestImagePullInterrupted(t *testing.T) {
	e, data := imageEnv(t)
	img := testImage(t)
	layers, _ := img.Layers()
	top, _ := layers[1].Digest()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+top.String()) {
			<-stall
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stall) })
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/h9/int:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	cmd := newBerthCmd(e, "image", "pull", "--insecure", host+"/h9/int:v1", "h9/int")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stalled on the top layer once the bottom one is unpacked.
	waitFor(t, 30*time.Second, "the first layer unpacked", func() bool {
		left, _ := os.ReadDir(filepath.Join(data, "layers", "sha256"))
		return len(left) == 1
	})
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Fatal("an interrupted pull exited 0")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr: %q", stderr.String())
	}
	assertNoPartial(t, data, layers[1])
	if ls := e.mustBerth("image", "ls"); strings.Contains(ls, "h9/int") {
		t.Fatalf("image ls lists an interrupted pull: %q", ls)
	}
}

// A registry that refuses connections, and one that cuts the connection
// halfway through a layer: one-line errors, no record, no layer, no tmp/.
func TestImageRegistryDropsConnection(t *testing.T) {
	e, data := imageEnv(t)
	img := testImage(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/h9/gone:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	e.expectRefused([]string{host}, "image", "pull", "--insecure", host+"/h9/gone:v1")
	// One that drops the connection halfway through the top layer.
	layers, _ := img.Layers()
	top, _ := layers[1].Digest()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+top.String()) {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		panic(http.ErrAbortHandler) // the connection is cut
	}))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	ref, _ = name.ParseReference(host+"/h9/drop:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	e.expectRefused([]string{"layer"}, "image", "pull", "--insecure", host+"/h9/drop:v1", "h9/drop")
	assertNoPartial(t, data, layers[1])
	if ls := e.mustBerth("image", "ls"); strings.Contains(ls, "h9/drop") {
		t.Fatalf("image ls lists the image whose pull was cut: %q", ls)
	}
}
