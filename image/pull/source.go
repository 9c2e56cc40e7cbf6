package pull

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// source is an image to pull: the image, the name it is stored under by
// default, and whether its layers come as the archive's uncompressed tars
// (docker-archive: verified by diff ID only, there is no other digest).
type source struct {
	img         v1.Image
	defaultName string
	archive     bool
	// manifestDigest is the digest the manifest must have (from the
	// layout's index or the reference), empty when nothing names it.
	manifestDigest string
}

// transports skopeo knows that berth does not pull from.
var otherTransports = []string{"dir", "oci-archive", "containers-storage", "docker-daemon", "sif", "ostree", "tarball"}

// openSource opens SOURCE: oci:DIR[:TAG], docker-archive:FILE,
// docker://REF or a bare REF.
func openSource(src string, insecure bool) (*source, error) {
	transport, rest, err := parseSource(src)
	if err != nil {
		return nil, err
	}
	switch transport {
	case "oci":
		return openLayout(rest)
	case "docker-archive":
		return openArchive(rest)
	}
	return openRemote(rest, insecure)
}

// parseSource splits SOURCE into its transport (oci, docker-archive or
// docker) and the rest. A colon alone does not make a transport: a bare REF
// has one before a tag or a port ("busybox:1", "localhost:5000/x").
func parseSource(src string) (transport, rest string, err error) {
	t, r, hasColon := strings.Cut(src, ":")
	switch {
	case !hasColon:
	case t == "oci" || t == "docker-archive":
		if r == "" {
			return "", "", fmt.Errorf("SOURCE %q: %s: needs a path", src, t)
		}
		return t, r, nil
	case t == "docker" && strings.HasPrefix(r, "//"):
		return "docker", strings.TrimPrefix(r, "//"), nil
	case strings.HasPrefix(r, "/") || contains(otherTransports, t):
		return "", "", fmt.Errorf("SOURCE %q: unknown transport %q (berth pulls oci:DIR[:TAG], docker-archive:FILE, docker://REF or REF)", src, t)
	}
	return "docker", src, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func openLayout(spec string) (*source, error) {
	dir, tag := spec, ""
	if i := strings.LastIndexByte(spec, ':'); i > strings.LastIndexByte(spec, '/') {
		dir, tag = spec[:i], spec[i+1:]
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("oci:%s: %w", spec, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("oci:%s: not an OCI image layout: %w", spec, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("oci:%s: index.json: %w", spec, err)
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if tag == "" || d.Annotations["org.opencontainers.image.ref.name"] == tag {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("oci:%s: no image tagged %q in the layout", spec, tag)
	case len(found) == 0:
		return nil, fmt.Errorf("oci:%s: the layout holds no image", spec)
	case len(found) > 1:
		return nil, fmt.Errorf("oci:%s: the layout holds %d images: name one with oci:DIR:TAG", spec, len(found))
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("oci:%s: %w", spec, err)
		}
		if d, err = pickPlatform(child); err != nil {
			return nil, fmt.Errorf("oci:%s: %w", spec, err)
		}
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("oci:%s: %w", spec, err)
	}
	if tag == "" {
		tag = "latest"
	}
	base := strings.TrimSuffix(dir, "/")
	base = base[strings.LastIndexByte(base, '/')+1:]
	return &source{img: img, defaultName: base + ":" + tag, manifestDigest: d.Digest.String()}, nil
}

func pickPlatform(idx v1.ImageIndex) (v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image for linux/%s in the index", runtime.GOARCH)
}

func openArchive(file string) (*source, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("docker-archive:%s: %w", file, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return nil, fmt.Errorf("docker-archive:%s: not a docker save archive: %w", file, err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("docker-archive:%s: the archive holds %d images; berth pulls archives of one", file, len(m))
	}
	img, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		return nil, fmt.Errorf("docker-archive:%s: %w", file, err)
	}
	name := ""
	if len(m[0].RepoTags) > 0 {
		name = m[0].RepoTags[0]
	} else {
		base := strings.TrimSuffix(file[strings.LastIndexByte(file, '/')+1:], ".tar")
		name = base + ":latest"
	}
	return &source{img: img, defaultName: name, archive: true}, nil
}

func openRemote(ref string, insecure bool) (*source, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("SOURCE %q: %w", ref, err)
	}
	img, err := remote.Image(r,
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, oneLine(err))
	}
	// remote checks the manifest against a digest in the reference itself.
	return &source{img: img, defaultName: ref}, nil
}

func oneLine(err error) error {
	return fmt.Errorf("%s", strings.Join(strings.Fields(err.Error()), " "))
}
