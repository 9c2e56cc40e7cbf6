// Package logs is berth's log: one line per message to stderr or to the
// --log file, as text or as the JSON lines containerd reads
// ({"level":"error","msg":"...","time":"..."}), the format runc writes with
// logrus. It is this small on purpose: every package berth links is mapped
// into every berth process (docs/performance.md).
package logs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

var (
	mu            sync.Mutex
	out           io.Writer = os.Stderr
	asJSON, debug bool
)

// Setup directs the log: to w (nil: stderr), as JSON lines or text, with
// or without debug messages.
func Setup(w io.Writer, jsonLines, withDebug bool) {
	mu.Lock()
	defer mu.Unlock()
	if w == nil {
		w = os.Stderr
	}
	out, asJSON, debug = w, jsonLines, withDebug
}

// ToStderr reports whether the log goes to stderr.
func ToStderr() bool {
	mu.Lock()
	defer mu.Unlock()
	return out == os.Stderr
}

// Debugf logs a debug message, when debug messages are on.
func Debugf(format string, args ...any) {
	mu.Lock()
	on := debug
	mu.Unlock()
	if on {
		write("debug", fmt.Sprintf(format, args...))
	}
}

// Warn logs a warning.
func Warn(args ...any) { write("warning", fmt.Sprint(args...)) }

// Error logs an error.
func Error(args ...any) { write("error", fmt.Sprint(args...)) }

func write(level, msg string) {
	now := time.Now().Format(time.RFC3339Nano)
	var line []byte
	if asJSON {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
	} else {
		line = []byte("time=" + strconv.Quote(now) + " level=" + level + " msg=" + strconv.Quote(msg))
	}
	mu.Lock()
	defer mu.Unlock()
	out.Write(append(line, '\n'))
}
