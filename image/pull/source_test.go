package pull

import (
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	for src, want := range map[string]string{
		"oci:/x/lay:v1":             "oci /x/lay:v1",
		"oci:lay":                   "oci lay",
		"docker-archive:/a.tar":     "docker-archive /a.tar",
		"docker://busybox":          "docker busybox",
		"busybox":                   "docker busybox",
		"busybox:1.36":              "docker busybox:1.36",
		"localhost:5000/a/b:v1":     "docker localhost:5000/a/b:v1",
		"127.0.0.1:5000/a@sha256:0": "docker 127.0.0.1:5000/a@sha256:0",
		"dir:/some/dir":             "unknown transport",
		"oci-archive:/a.tar":        "unknown transport",
		"containers-storage:x":      "unknown transport",
		"weird:/x":                  "unknown transport",
		"oci:":                      "needs a path",
	} {
		tr, rest, err := parseSource(src)
		got := tr + " " + rest
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("%q: %q, want %q", src, got, want)
		}
	}
}
