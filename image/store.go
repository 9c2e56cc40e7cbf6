// Package image is berth's image store: where pulled images live, how a
// container's rootfs is made from one (an overlayfs over the unpacked
// layers), and the config.json generated from an image's config.
//
// This package is linked into every berth process, so it stays small: it
// never imports a registry client, net/http, crypto, archive/tar or
// compression. Pulling and unpacking are image/pull's, which runs as a
// separate program carried inside the berth file (puller.go); berth's start
// time and peak RSS follow what its binary maps (docs/images.md).
//
// The store, under DataDir():
//
//	blobs/sha256/<hex>     manifests and image configs, by digest
//	layers/sha256/<hex>/   each layer unpacked once, by its diff ID (overlay lower dir)
//	images/<name>.json     one record per image name (Record)
//	containers/<id>/       generated bundles: config.json, rootfs/, upper/, work/
//	tmp/                   pulls in progress; renamed into place when complete
//	lock                   flock: shared by pulls and runs, exclusive for rm
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// DataDir is where the store lives: $BERTH_DATA_DIR, else /var/lib/berth
// for root and $XDG_DATA_HOME/berth (~/.local/share/berth) for others.
func DataDir() string {
	if d := os.Getenv("BERTH_DATA_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/berth"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "berth")
}

// Store is an image store rooted at Dir.
type Store struct{ Dir string }

// Open returns the store at dir, making its directories when missing.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	s := &Store{Dir: abs}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "images", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return s, nil
}

// Config is the part of an image's config (the OCI image-spec's
// ImageConfig) a container is made from.
type Config struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

// Record is images/<name>.json: what berth needs to run an image without
// reading anything else of the store.
type Record struct {
	Name         string   `json:"name"`
	Digest       string   `json:"digest"`       // the manifest's, sha256:<hex>
	ConfigDigest string   `json:"configDigest"` // the image config blob's
	Layers       []string `json:"layers"`       // diff IDs, bottom first
	Size         int64    `json:"size"`         // compressed layer bytes
	Created      string   `json:"created,omitempty"`
	OS           string   `json:"os,omitempty"`
	Architecture string   `json:"architecture,omitempty"`
	Author       string   `json:"author,omitempty"`
	Source       string   `json:"source"`
	Config       Config   `json:"config"`
}

// ErrNotFound is an image name the store does not hold.
var ErrNotFound = errors.New("no such image")

// NormalizeName is the name as docker shows it: without "docker.io/" and
// "docker.io/library/", with ":latest" added when it has neither tag nor
// digest.
func NormalizeName(name string) string {
	for _, p := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			name = rest
			break
		}
	}
	if strings.Contains(name, "@") {
		return name
	}
	slash := strings.LastIndexByte(name, '/')
	if strings.LastIndexByte(name, ':') <= slash {
		return name + ":latest"
	}
	return name
}

// ValidName refuses names that cannot be an image reference.
func ValidName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, " \t\n\x00\\") || strings.HasPrefix(name, "-") {
		return fmt.Errorf("image name %q: not a valid name", name)
	}
	return nil
}

// recordPath is images/<name with % and / escaped>.json.
func (s *Store) recordPath(name string) string {
	esc := strings.NewReplacer("%", "%25", "/", "%2F").Replace(name)
	return filepath.Join(s.Dir, "images", esc+".json")
}

// BlobPath is blobs/sha256/<hex> for a "sha256:<hex>" digest.
func (s *Store) BlobPath(digest string) string {
	return filepath.Join(s.Dir, "blobs", strings.Replace(digest, ":", "/", 1))
}

// LayerPath is the unpacked layer for a "sha256:<hex>" diff ID.
func (s *Store) LayerPath(diffID string) string {
	return filepath.Join(s.Dir, "layers", strings.Replace(diffID, ":", "/", 1))
}

// Get reads the record of name (":latest" added when it has no tag).
func (s *Store) Get(name string) (*Record, error) {
	name = NormalizeName(name)
	data, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w (pull it first: berth image pull SOURCE %s)", name, ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("image %s: record %s: %w", name, s.recordPath(name), err)
	}
	for _, l := range r.Layers {
		if !validDigest(l) {
			return nil, fmt.Errorf("image %s: record names a bad layer %q", name, l)
		}
	}
	return &r, nil
}

// Put writes a record atomically (temp file and rename): a reader sees the
// old record or the new one, never a part.
func (s *Store) Put(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeAtomic(s.recordPath(r.Name), data)
}

// List returns every record, sorted by name.
func (s *Store) List() ([]*Record, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "images"))
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	var out []*Record
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.Dir, "images", e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		var r Record
		if json.Unmarshal(data, &r) == nil && r.Name != "" {
			out = append(out, &r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes the records of names, then every layer and blob no
// remaining image and no container uses. It holds the store lock
// exclusively, so no pull or run is between reading a record and
// recording what it uses.
func (s *Store) Remove(names ...string) error {
	unlock, err := s.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, n := range names {
		n = NormalizeName(n)
		if err := os.Remove(s.recordPath(n)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("image %s: %w", n, ErrNotFound)
			}
			errs = append(errs, err)
		}
	}
	if err := s.gc(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// gc removes layers and blobs that no record and no container bundle
// names. Preconditions: store lock held exclusively.
func (s *Store) gc() error {
	used := map[string]bool{}
	recs, err := s.List()
	if err != nil {
		return err
	}
	for _, r := range recs {
		used[r.Digest], used[r.ConfigDigest] = true, true
		for _, l := range r.Layers {
			used[l] = true
		}
	}
	ctrs, _ := os.ReadDir(filepath.Join(s.Dir, "containers"))
	for _, c := range ctrs {
		data, err := os.ReadFile(filepath.Join(s.Dir, "containers", c.Name(), markerFile))
		if err != nil {
			continue
		}
		for _, l := range strings.Fields(string(data)) {
			used[l] = true // and the root and ID, which are not digests
		}
	}
	var errs []error
	for _, kind := range []string{"blobs", "layers"} {
		dir := filepath.Join(s.Dir, kind, "sha256")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !used["sha256:"+e.Name()] {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Lock takes the store lock: shared for a pull or a run (which add), or
// exclusive for rm (which removes what nothing uses). It is an flock, so
// it goes with the process however that ends.
func (s *Store) Lock(exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// writeAtomic writes data to path through a temp file in the same
// directory, synced before the rename.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
