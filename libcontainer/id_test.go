package libcontainer

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"abc", true}, {"A-b_c.d+e", true}, {"0", true}, {strings.Repeat("a", maxIDLen), true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"../x", false}, {"a b", false},
		{"a\x00b", false}, {"ünïcode", false}, {strings.Repeat("a", maxIDLen+1), false},
	} {
		err := ValidateID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) error %v is not ErrInvalidID", tc.id, err)
		}
	}
}

func TestParseSpecReportsPosition(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"{\n \"ociVersion\": \"1\",\n \"process\": {\n", []string{"malformed JSON", "line 4"}},
		{"{\"process\": {\"args\": \"sh\"}}", []string{"process.args", "line 1", "column"}},
		{"{\"ociVersion\": 1}", []string{"ociVersion", "string"}},
		{"{} trailing", []string{"malformed JSON"}},
	} {
		_, err := ParseSpec([]byte(tc.in))
		if err == nil {
			t.Errorf("ParseSpec(%q) succeeded", tc.in)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSpec(%q) = %q, missing %q", tc.in, err, w)
			}
		}
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseSpec(%q) error is not ErrInvalidSpec", tc.in)
		}
	}
}

func TestProcStatOfSelf(t *testing.T) {
	start, state, err := procStat(os.Getpid())
	// The state is the thread group leader's: R or S, whichever thread runs
	// the test; never a zombie.
	if err != nil || start == 0 || (state != 'R' && state != 'S') {
		t.Fatalf("procStat(self) = %d %c %v, want a start time and state R or S", start, state, err)
	}
	if _, _, err := procStat(1 << 30); err == nil {
		t.Fatal("procStat of a non-existent pid succeeded")
	}
}
