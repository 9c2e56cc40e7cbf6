package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process in the container's cgroup"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c, "signal")
		if err != nil {
			return err
		}
		sig := unix.SIGTERM
		if c.NArg() == 2 {
			if sig, err = parseSignal(c.Args().Get(1)); err != nil {
				return err
			}
		}
		return libcontainer.Signal(c.String("root"), id, sig, c.Bool("all"))
	},
}

// parseSignal accepts a number (0 checks that the process exists, as with
// kill(2)), "KILL", "SIGKILL" or "sigkill".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("kill: signal %d is out of range 0-64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("kill: unknown signal %q", s)
}
