package jsonlite

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// target is what berth decodes: a spec, with the other platforms' sections
// shadowed by raw messages (libcontainer's linuxSpec), and a few kinds the
// spec does not have.
type target struct {
	specs.Spec
	Windows json.RawMessage `json:"windows,omitempty"`
	Extra   *struct {
		Any    any               `json:"any"`
		Ints   map[int]string    `json:"ints"`
		Quoted int               `json:"quoted,string"`
		F      float64           `json:"f"`
		Arr    [2]int            `json:"arr"`
		M      map[string][]int8 `json:"m"`
	} `json:"extra,omitempty"`
}

// same decodes data with both and fails the test if they differ in result
// or in error.
func same(t *testing.T, data []byte) {
	t.Helper()
	var mine, theirs target
	errMine := Unmarshal(data, &mine)
	errTheirs := json.Unmarshal(data, &theirs)
	if (errMine == nil) != (errTheirs == nil) || errMine != nil && errMine.Error() != errTheirs.Error() {
		t.Fatalf("errors differ for %q:\n jsonlite: %v\n encoding/json: %v", data, errMine, errTheirs)
	}
	if !reflect.DeepEqual(mine, theirs) {
		a, _ := json.Marshal(mine)
		b, _ := json.Marshal(theirs)
		t.Fatalf("results differ for %q:\n jsonlite: %s\n encoding/json: %s", data, a, b)
	}
}

var cases = []string{
	`{}`, `null`, `[]`, `{"ociVersion":"1.0.2"}`, ` {"ociVersion" : "1.0.2" } `,
	// case-insensitive keys, exact match first, duplicates (last wins; structs and maps merge)
	`{"OCIVERSION":"a","ociVersion":"b","OciVersion":"c"}`,
	`{"process":{"cwd":"/"},"process":{"terminal":true}}`,
	`{"annotations":{"a":"1"},"annotations":{"b":"2"}}`,
	`{"process":{"args":["a"]},"process":{"args":["b","c"]}}`,
	// nulls
	`{"process":null,"hostname":null,"mounts":null,"annotations":null}`,
	`{"process":{"terminal":null,"user":{"uid":null}}}`,
	// escapes and non-ASCII, in values and keys
	`{"hostname":"a\"b\\c\/d\u00e9\ud83d\ude00","annotations":{"k\u00e9y":"v\n"}}`,
	`{"hostname":"héllo","annotations":{"ключ":"значение"}}`,
	"{\"hostname\":\"bad \xff utf8\"}",
	// numbers
	`{"process":{"user":{"uid":4294967295,"gid":0}}}`, `{"process":{"user":{"uid":4294967296}}}`,
	`{"process":{"user":{"uid":-1}}}`, `{"process":{"user":{"uid":1.0}}}`, `{"process":{"user":{"uid":1e3}}}`,
	`{"process":{"user":{"uid":01}}}`, `{"process":{"user":{"uid":-0}}}`, `{"process":{"user":{"uid":"1"}}}`,
	`{"process":{"oomScoreAdj":-1000}}`, `{"linux":{"resources":{"memory":{"limit":-1,"swap":9223372036854775807}}}}`,
	`{"linux":{"resources":{"memory":{"limit":9223372036854775808}}}}`,
	// embedded structs (LinuxWeightDevice embeds LinuxBlockIODevice)
	`{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10}],"throttleReadBpsDevice":[{"major":8,"minor":1,"rate":5}]}}}}`,
	// type errors and syntax errors: encoding/json's own messages
	`{"process":{"terminal":"yes"}}`, `{"process":{"args":"sh"}}`, `{"process":[]}`, `{"mounts":{}}`,
	`{`, `{"a"`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"hostname":"x"} trailing`, `{"hostname":"x"}}`, `"str"`, `tru`,
	`{"hostname":"x",,}`, `{"hostname":"unterminated}`, `{"linux":{"namespaces":[{"type":"pid"},]}}`,
	// unknown fields, raw messages, kinds handed to encoding/json
	`{"unknown":{"deep":[1,2,{"x":null}]},"windows":{"layerFolders":["c:\\x"]},"hostname":"h"}`,
	`{"windows":  [1, 2] , "hostname":"h"}`,
	`{"extra":{"any":{"a":[1,"x",null,true]},"ints":{"1":"a"},"quoted":"42","f":1.5,"arr":[1,2],"m":{"a":[1,-2]}}}`,
	`{"extra":{"quoted":42}}`, `{"extra":{"m":{"a":[300]}}}`, `{"extra":{"f":"x"}}`,
}

func TestSameAsEncodingJSON(t *testing.T) {
	for _, c := range cases {
		same(t, []byte(c))
	}
	// Every config the project has: examples, fuzz corpora, test bundles.
	files, _ := filepath.Glob("../../libcontainer/testdata/fuzz/FuzzParseSpec/*")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		// the corpus format: go test fuzz v1, then []byte("...")
		if s, ok := strings.CutPrefix(string(data), "go test fuzz v1\n[]byte("); ok {
			if q, err := unquote(strings.TrimSuffix(strings.TrimSpace(s), ")")); err == nil {
				same(t, []byte(q))
			}
		}
	}
}

func unquote(s string) (string, error) {
	var out string
	err := json.Unmarshal([]byte(strings.ReplaceAll(s, `\x`, `\u00`)), &out)
	return out, err
}

// A whole spec as berth writes it, indented and compact.
func TestExampleSpec(t *testing.T) {
	s := specs.Spec{Version: "1.0.2", Process: &specs.Process{Args: []string{"sh"}, Env: []string{"A=1"},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}},
		Root: &specs.Root{Path: "rootfs", Readonly: true}, Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "pid"}}, Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: new(int64)}},
			Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: 2, Op: specs.OpEqualTo}}}}}}}
	compact, _ := json.Marshal(s)
	indented, _ := json.MarshalIndent(s, "", "\t")
	same(t, compact)
	same(t, indented)
}

func FuzzSameAsEncodingJSON(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { same(t, data) })
}
