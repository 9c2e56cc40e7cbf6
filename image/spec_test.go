package image

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func testRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "real"), 0o755)
	os.WriteFile(filepath.Join(root, "real", "passwd"), []byte("root:x:0:0::/root:/bin/sh\n# comment\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644)
	// An absolute symlink: it must resolve inside the rootfs, not on the host.
	os.Symlink("/real/passwd", filepath.Join(root, "etc", "passwd"))
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\napps:x:1001:\nwheel:x:10:app,other\naudio:x:29:other\n"), 0o644)
	return root
}

func TestResolveUser(t *testing.T) {
	root := testRootfs(t)
	for _, c := range []struct {
		user string
		want specs.User
		bad  bool
	}{
		{"", specs.User{UID: 0, GID: 0}, false},
		{"app", specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10}}, false},
		{"1000", specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10}}, false},
		{"app:audio", specs.User{UID: 1000, GID: 29}, false},
		{"1000:7", specs.User{UID: 1000, GID: 7}, false},
		{"4242", specs.User{UID: 4242}, false},
		{"nobody", specs.User{}, true},
		{"app:nogroup", specs.User{}, true},
	} {
		got, err := resolveUser(root, c.user)
		if (err != nil) != c.bad {
			t.Errorf("%q: error %v", c.user, err)
			continue
		}
		if !c.bad && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, want %+v", c.user, got, c.want)
		}
	}
}

func TestFillSpec(t *testing.T) {
	root := testRootfs(t)
	r := &Record{Name: "x:latest", Digest: "sha256:00", Config: Config{
		Entrypoint: []string{"/bin/entry"}, Cmd: []string{"default"}, Env: []string{"A=1"},
		WorkingDir: "/w", User: "app", StopSignal: "SIGINT",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}, Labels: map[string]string{"l": "v"},
	}}
	s := &specs.Spec{Process: &specs.Process{Terminal: true}}
	if err := FillSpec(s, r, "c1", []string{"over", "ride"}, root); err != nil {
		t.Fatal(err)
	}
	p := s.Process
	if !reflect.DeepEqual(p.Args, []string{"/bin/entry", "over", "ride"}) || p.Cwd != "/w" || p.Terminal || p.User.UID != 1000 {
		t.Errorf("process: %+v", p)
	}
	if !reflect.DeepEqual(p.Env, []string{defaultPath, "A=1"}) {
		t.Errorf("env: %v", p.Env)
	}
	a := s.Annotations
	if a["org.opencontainers.image.stopSignal"] != "SIGINT" || a["org.opencontainers.image.exposedPorts"] != "53/udp,80/tcp" || a["l"] != "v" || a[AnnotationImage] != "x:latest" {
		t.Errorf("annotations: %v", a)
	}
	if s.Hostname != "c1" || s.Root.Path != "rootfs" || s.Root.Readonly {
		t.Errorf("hostname %q root %+v", s.Hostname, s.Root)
	}
	r.Config.Entrypoint, r.Config.Cmd = nil, nil
	if err := FillSpec(&specs.Spec{Process: &specs.Process{}}, r, "c1", nil, root); err == nil {
		t.Error("an image without Entrypoint and Cmd and no command: no error")
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox": "busybox:latest", "docker.io/library/busybox": "busybox:latest", "docker.io/h9/x:v2": "h9/x:v2",
		"127.0.0.1:5000/a/b": "127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b:v1": "127.0.0.1:5000/a/b:v1",
		"a@sha256:00": "a@sha256:00",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestStoreRecordsAndGC(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l1, l2, l3 := "sha256:"+hex64('1'), "sha256:"+hex64('2'), "sha256:"+hex64('3')
	for _, l := range []string{l1, l2, l3} {
		os.MkdirAll(st.LayerPath(l), 0o755)
	}
	// A container's rootfs stacks l3: it stays while the container does.
	os.MkdirAll(filepath.Join(st.Dir, "containers", "c1"), 0o700)
	os.WriteFile(filepath.Join(st.Dir, "containers", "c1", markerFile), []byte("/run/berth\nc1\n"+l3+"\n"), 0o600)
	st.Put(&Record{Name: "a/b:v1", Layers: []string{l1, l2}})
	st.Put(&Record{Name: "c:latest", Layers: []string{l1}})
	if r, err := st.Get("a/b:v1"); err != nil || len(r.Layers) != 2 {
		t.Fatalf("get: %v %v", r, err)
	}
	if err := st.Remove("a/b:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.LayerPath(l2)); !os.IsNotExist(err) {
		t.Error("a layer no image uses is kept")
	}
	if _, err := os.Stat(st.LayerPath(l1)); err != nil {
		t.Error("a layer another image uses is removed")
	}
	if _, err := os.Stat(st.LayerPath(l3)); err != nil {
		t.Error("a layer a container uses is removed")
	}
	if err := st.Remove("a/b:v1"); err == nil {
		t.Error("rm of a missing image: no error")
	}
	if l, _ := st.List(); len(l) != 1 || l[0].Name != "c:latest" {
		t.Errorf("list: %v", l)
	}
}

func hex64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
