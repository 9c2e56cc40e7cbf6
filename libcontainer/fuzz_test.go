package libcontainer

import (
	"errors"
	"testing"
)

// Fuzz targets for what berth reads from outside: config.json, container
// IDs and the init protocol's messages. A short run of each is part of
// `make test` (make fuzz); the seeds below and testdata/fuzz/ are the corpus.
// No input may panic; every rejection must be one of berth's errors.

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"}]}}`))
	f.Add([]byte(`{"process": {"args": "sh"}}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ALLOW"}]}}}`))
	bundleDir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseSpec(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("rejection %v is not ErrInvalidSpec", err)
			}
			return
		}
		if spec.Process != nil {
			validateProcess(spec.Process) // must not panic either
		}
		b := &Bundle{Path: bundleDir, Spec: spec}
		b.validate()
		if spec.Linux != nil {
			planNamespaces(spec)
			validateSysctl(spec)
		}
	})
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"abc", "..", "a/b", "", "x y", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Fatalf("rejection %v is not ErrInvalidID", err)
		}
		if err == nil {
			for _, r := range id {
				if r == '/' || r == 0 {
					t.Fatalf("accepted %q", id)
				}
			}
			if id == "." || id == ".." {
				t.Fatalf("accepted %q", id)
			}
		}
	})
}

// FuzzSyncMessage feeds arbitrary datagrams to the init protocol's decoder.
func FuzzSyncMessage(f *testing.F) {
	f.Add([]byte(`{"type":"plan","plan":{"id":"x","spec":{}}}`))
	f.Add([]byte(`{"type":"error","error":"boom"}`))
	f.Add([]byte(`{"type":"pid","pid":-1}`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, child, err := newSyncPair()
		if err != nil {
			t.Skip(err)
		}
		defer parent.Close()
		defer child.Close()
		if len(data) == 0 {
			return // a zero-length datagram is how the peer's close reads
		}
		if _, err := parent.f.Write(data); err != nil {
			return
		}
		msg, fds, err := child.recv()
		if err == nil && len(fds) != 0 {
			t.Fatalf("a descriptor came from nowhere: %v (%+v)", fds, msg)
		}
	})
}
