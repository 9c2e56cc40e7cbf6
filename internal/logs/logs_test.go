package logs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// containerd reads the --log file as JSON lines with level, msg and time.
func TestJSONLinesAndDebugGate(t *testing.T) {
	var buf bytes.Buffer
	Setup(&buf, true, false)
	defer Setup(nil, false, false)
	Debugf("hidden %d", 1)
	Error("boom: ", "x\"y")
	Warn("careful")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (no debug): %q", len(lines), buf.String())
	}
	var e struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Level != "error" || e.Msg != `boom: x"y` || e.Time == "" {
		t.Errorf("first line %s: %+v, %v", lines[0], e, err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.Level != "warning" {
		t.Errorf("second line %s: %+v, %v", lines[1], e, err)
	}
	if ToStderr() {
		t.Errorf("ToStderr() with a buffer as the log")
	}
	buf.Reset()
	Setup(&buf, false, true)
	Debugf("seen %d", 2)
	if got := buf.String(); !strings.Contains(got, `level=debug msg="seen 2"`) || !strings.HasPrefix(got, `time="`) {
		t.Errorf("text line %q", got)
	}
}
