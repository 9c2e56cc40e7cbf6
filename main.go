// Command berth is a daemonless OCI container runtime with runc's command
// line. Each command file holds one verb: it parses flags and makes one
// library call.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/libcontainer"
	_ "github.com/berth-project/berth/nsenter" // joins namespaces before the Go runtime starts
)

// Set at build time by the Makefile.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

func init() {
	// `berth init` changes per-thread state (capabilities) and then execs:
	// keep it on the main thread from the very start.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.GOMAXPROCS(1)
		runtime.LockOSThread()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // never returns
	}
	app := newApp()
	if err := app.Run(os.Args); err != nil {
		os.Exit(reportError(err))
	}
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("berth version %s\ncommit: %s\nspec: %s\ngo: %s\n", version, commit, specs.Version, runtime.Version())
	}
	return &cli.App{
		Name:                   "berth",
		Usage:                  "a daemonless OCI container runtime",
		Version:                version,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: libcontainer.DefaultRoot(), Usage: "directory holding container state"},
			&cli.StringFlag{Name: "log", Usage: "write logs to this file instead of stderr"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "make each container's cgroup a systemd scope (cgroupsPath \"slice:prefix:name\")"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "rootless mode: true, false or auto"},
			&cli.StringFlag{Name: "criu", Hidden: true, Usage: "accepted for runc compatibility; unused"},
		},
		Before: setupGlobal,
		Commands: []*cli.Command{
			createCommand, startCommand, runCommand, stateCommand, listCommand,
			killCommand, deleteCommand, specCommand, execCommand,
			pauseCommand, resumeCommand, psCommand, updateCommand, eventsCommand, featuresCommand,
			checkpointCommand, restoreCommand, imageCommand, networkCommand,
		},
	}
}

func setupGlobal(c *cli.Context) error {
	format := c.String("log-format")
	if format != "text" && format != "json" {
		return fmt.Errorf("--log-format %q: must be text or json", format)
	}
	var out io.Writer // nil: stderr
	if path := c.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", path, err)
		}
		out = f
	}
	logs.Setup(out, format == "json", c.Bool("debug"))
	logs.Debugf("berth %s", c.Args().First()) // not its arguments: exec -e may carry secrets
	return libcontainer.SetRootlessMode(c.String("rootless"))
}

// exitCode carries a workload's exit status out of `run` without an error
// message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// codedError is an error that ends berth with its own exit status: exec's
// 255 (as runc) lets a caller tell "the exec failed" from "the process
// exited 1".
type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// reportError prints err once, as one line, to stderr and to the log file
// when there is one, and returns the process exit code.
func reportError(err error) int {
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	msg := printable(err.Error())
	if !logs.ToStderr() {
		logs.Error(msg)
	}
	fmt.Fprintln(os.Stderr, "berth: "+msg)
	var coded *codedError
	if errors.As(err, &coded) {
		return coded.code
	}
	return 1
}

// printable makes msg one line that a terminal shows as it is: newlines
// become spaces and other control bytes (a NUL from a config string, an
// escape sequence) are escaped, as %q would.
func printable(msg string) string {
	var b strings.Builder
	for _, r := range msg {
		switch {
		case r == '\n':
			b.WriteByte(' ')
		case r < 0x20 && r != '\t' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oneID checks that a command got exactly the container ID it needs.
func oneID(c *cli.Context, extra ...string) (string, error) {
	want := 1 + len(extra)
	if c.NArg() < 1 {
		return "", oneIDErr(c)
	}
	if c.NArg() > want {
		return "", fmt.Errorf("%s: too many arguments %q (usage: berth %s %s)", c.Command.Name, c.Args().Slice()[want:], c.Command.Name, c.Command.ArgsUsage)
	}
	id := c.Args().First()
	return id, libcontainer.ValidateID(id)
}

func oneIDErr(c *cli.Context) error {
	return fmt.Errorf("%s: missing container ID (usage: berth %s %s)", c.Command.Name, c.Command.Name, c.Command.ArgsUsage)
}
