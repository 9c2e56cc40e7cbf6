// Package pull fetches an image into berth's store: from an OCI layout, a
// docker-archive or a registry (go-containerregistry), every blob's digest
// checked as it is read, each layer unpacked once. It is linked only into
// the image puller program (image/cmd/berth-pull), never into berth's own
// code, so that net/http, TLS and the registry client cost no container
// start (docs/images.md).
package pull

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
)

// Options is one `berth image pull`.
type Options struct {
	Source, Name string
	Insecure     bool
	Progress     *Progress
	// TmpDir, when set, is told the pull's directory under tmp/ once it
	// exists, so that a caller stopped by a signal can remove it.
	TmpDir func(string)
}

// Pull stores the image o.Source names under o.Name (or the name the source
// gives it) and returns its record. Everything is written under the store's
// tmp/ and renamed into place once verified; the record comes last, so an
// error or a kill leaves no image and no rootfs half-written, only a tmp/
// directory the next pull removes.
func Pull(st *image.Store, o Options) (*image.Record, error) {
	src, err := openSource(o.Source, o.Insecure)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = src.defaultName
	}
	name = image.NormalizeName(name)
	if err := image.ValidName(name); err != nil {
		return nil, err
	}
	tmp, err := newTmp(st)
	if err != nil {
		return nil, err
	}
	defer tmp.remove()
	if o.TmpDir != nil {
		o.TmpDir(tmp.dir)
	}
	unlock, err := st.Lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := fetch(st, src, tmp.dir, o.Progress)
	if err != nil {
		return nil, err
	}
	r.Name, r.Source = name, o.Source
	if err := st.Put(r); err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return r, nil
}

// fetch verifies the manifest and config, unpacks the layers the store does
// not have yet, and returns the record (without name and source).
func fetch(st *image.Store, src *source, tmp string, prog *Progress) (*image.Record, error) {
	var manifest *v1.Manifest
	var rawManifest []byte
	if !src.archive {
		var err error
		if rawManifest, err = src.img.RawManifest(); err != nil {
			return nil, fmt.Errorf("manifest: %w", oneLine(err))
		}
		if err := checkDigest("manifest", src.manifestDigest, rawManifest); err != nil {
			return nil, err
		}
		if manifest, err = v1.ParseManifest(bytes.NewReader(rawManifest)); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
	}
	rawConfig, err := src.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", oneLine(err))
	}
	if manifest != nil {
		if err := checkDigest("image config", manifest.Config.Digest.String(), rawConfig); err != nil {
			return nil, err
		}
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	layers, err := src.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers: %w", oneLine(err))
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(layers) || (manifest != nil && len(manifest.Layers) != len(layers)) {
		return nil, fmt.Errorf("image config lists %d layers, the manifest %d", len(diffIDs), len(layers))
	}
	r := &image.Record{
		ConfigDigest: digestOf(rawConfig),
		OS:           cfg.OS, Architecture: cfg.Architecture, Author: cfg.Author, Config: imageConfig(cfg.Config),
	}
	if !cfg.Created.IsZero() {
		r.Created = cfg.Created.UTC().Format("2006-01-02T15:04:05Z")
	}
	r.Digest = r.ConfigDigest // a docker-archive's image ID
	if manifest != nil {
		r.Digest = digestOf(rawManifest)
	}
	var lowers []string // top first
	for i, l := range layers {
		did := diffIDs[i].String()
		r.Layers = append(r.Layers, did)
		dst := st.LayerPath(did)
		var desc *v1.Descriptor
		if manifest != nil {
			desc = &manifest.Layers[i]
			r.Size += desc.Size
		}
		if _, err := os.Stat(dst); err != nil {
			if err := fetchLayer(l, desc, did, dst, tmp, lowers, prog.Layer(i+1, len(layers), did, desc)); err != nil {
				return nil, err
			}
		} else {
			prog.Layer(i+1, len(layers), did, desc).Done("already unpacked")
		}
		lowers = append([]string{dst}, lowers...)
	}
	if manifest != nil {
		if err := writeBlob(st, r.Digest, rawManifest); err != nil {
			return nil, err
		}
	}
	return r, writeBlob(st, r.ConfigDigest, rawConfig)
}

// fetchLayer reads one layer (checking the compressed digest and size the
// manifest gives, and the diff ID the config gives), unpacks it under tmp
// and renames it to dst.
func fetchLayer(l v1.Layer, desc *v1.Descriptor, diffID, dst, tmp string, lowers []string, bar *Bar) error {
	var rc io.ReadCloser
	var err error
	if desc == nil {
		rc, err = l.Uncompressed() // a docker-archive's tar as it is stored
	} else {
		rc, err = l.Compressed()
	}
	if err != nil {
		return fmt.Errorf("layer %s: %w", short(diffID), oneLine(err))
	}
	defer rc.Close()
	var in io.Reader = &counter{r: rc, bar: bar}
	var blob *verifier
	if desc != nil {
		blob = newVerifier("blob "+desc.Digest.String(), in, desc.Digest.String(), desc.Size)
		in = blob
	}
	tar, closeTar, err := decompress(in)
	if err != nil {
		return fmt.Errorf("layer %s: %w", short(diffID), err)
	}
	defer closeTar()
	diff := newVerifier("layer "+diffID+" (uncompressed)", tar, diffID, -1)
	work, err := os.MkdirTemp(tmp, "layer-")
	if err != nil {
		return err
	}
	if err := Unpack(diff, work, lowers); err != nil {
		return firstError(blob, diff, fmt.Errorf("layer %s: %w", short(diffID), err))
	}
	// The tar's end is not the stream's: read the rest, so that both
	// digests cover every byte.
	if _, err := io.Copy(io.Discard, diff); err != nil {
		return firstError(blob, diff, fmt.Errorf("layer %s: %w", short(diffID), err))
	}
	if blob != nil {
		if _, err := io.Copy(io.Discard, blob); err != nil {
			return err
		}
	}
	if err := os.Rename(work, dst); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("layer %s: %w", short(diffID), err)
	} // else another pull unpacked it first: the same content
	bar.Done("unpacked")
	return nil
}

// firstError prefers a digest mismatch (the cause) to what it made the
// decompressor or the tar reader say.
func firstError(blob, diff *verifier, err error) error {
	if blob != nil {
		io.Copy(io.Discard, blob) // to its end, where the digest is checked
	}
	if blob != nil && blob.err != nil {
		return blob.err
	}
	if diff.err != nil {
		return diff.err
	}
	return err
}

func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return z, func() { z.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return z, z.Close, nil
	}
	return br, func() {}, nil
}

// verifier hashes what is read through it and, at the end, turns EOF into
// an error when the digest (or the size, when known) is not the one
// expected.
type verifier struct {
	what, want string
	r          io.Reader
	h          hash.Hash
	n, size    int64
	err        error
}

func newVerifier(what string, r io.Reader, want string, size int64) *verifier {
	return &verifier{what: what, want: want, r: r, h: sha256.New(), size: size}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = fmt.Errorf("%s: more than the %d bytes the manifest gives", v.what, v.size)
		return n, v.err
	}
	if err == io.EOF {
		got := "sha256:" + hex.EncodeToString(v.h.Sum(nil))
		switch {
		case v.size >= 0 && v.n != v.size:
			v.err = fmt.Errorf("%s: truncated: %d of the %d bytes the manifest gives", v.what, v.n, v.size)
		case got != v.want:
			v.err = fmt.Errorf("%s: digest mismatch: its content's digest is %s", v.what, got)
		}
		if v.err != nil {
			return n, v.err
		}
	}
	return n, err
}

func checkDigest(what, want string, data []byte) error {
	if want == "" {
		return nil
	}
	if got := digestOf(data); got != want {
		return fmt.Errorf("%s %s: digest mismatch: its content's digest is %s", what, want, got)
	}
	return nil
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func writeBlob(st *image.Store, digest string, data []byte) error {
	p := st.BlobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func imageConfig(c v1.Config) image.Config {
	return image.Config{
		User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		Volumes: c.Volumes, WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal,
	}
}

// pullTmp is a pull's own directory under tmp/, flock'ed while the pull
// lives, so that the next pull removes it only once its owner is gone.
type pullTmp struct {
	dir  string
	lock *os.File
}

func newTmp(st *image.Store) (*pullTmp, error) {
	base := filepath.Join(st.Dir, "tmp")
	removeStale(base)
	dir, err := os.MkdirTemp(base, "pull-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	f, err := os.Open(dir)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &pullTmp{dir: dir, lock: f}, nil
}

func (t *pullTmp) remove() {
	os.RemoveAll(t.dir)
	t.lock.Close()
}

// removeStale removes what killed pulls left: directories nobody holds
// whose pull's process is gone.
func removeStale(base string) {
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		parts := strings.SplitN(e.Name(), "-", 3)
		if len(parts) == 3 {
			if pid, err := strconv.Atoi(parts[1]); err == nil && unix.Kill(pid, 0) == nil {
				continue
			}
		}
		p := filepath.Join(base, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		f.Close()
	}
}
