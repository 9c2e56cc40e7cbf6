package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process in a running container",
	ArgsUsage: "<container-id> <command> [args...]",
	// What follows the ID is the command's own (as runc): not reordered.
	SkipArgReorder: true,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "path to a process.json (overrides the flags below)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a terminal"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the terminal's master fd"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket that receives a pidfd of the process"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the process's PID to this file"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (KEY=value)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.StringSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional group IDs"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux process label"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio to the process"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "exec even if the container is paused"},
		&cli.StringSliceFlag{Name: "cgroup", Usage: "run in this sub-cgroup of the container: PATH, or CONTROLLER[,CONTROLLER]:PATH (cgroup v1, repeatable)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return oneIDErr(c)
		}
		// Past the arguments, a failure to start the process exits 255, as
		// runc: the process's own status is never mistaken for it.
		if err := execAction(c); err != nil {
			var code exitCode
			if errors.As(err, &code) {
				return err
			}
			return &codedError{fmt.Errorf("exec failed: %w", err), 255}
		}
		return nil
	},
}

// execAction starts the process and, unless detached, waits for it.
func execAction(c *cli.Context) error {
	id := c.Args().First()
	if err := libcontainer.ValidateID(id); err != nil {
		return err
	}
	opts := libcontainer.ExecOpts{
		Root: c.String("root"), ID: id, ProcessFile: c.String("process"), Args: c.Args().Tail(),
		Tty: c.Bool("tty"), Cwd: c.String("cwd"), Env: c.StringSlice("env"), User: c.String("user"),
		AdditionalGids: c.StringSlice("additional-gids"), Caps: c.StringSlice("cap"),
		NoNewPrivs: c.Bool("no-new-privs"), AppArmor: c.String("apparmor"), ProcessLabel: c.String("process-label"),
		ConsoleSocket: c.String("console-socket"), PidFile: c.String("pid-file"), PidfdSocket: c.String("pidfd-socket"), Detach: c.Bool("detach"),
		PreserveFDs: c.Int("preserve-fds"), IgnorePaused: c.Bool("ignore-paused"), Cgroups: c.StringSlice("cgroup"),
	}
	if opts.Detach {
		_, err := libcontainer.Exec(opts)
		return err
	}
	signals := make(chan os.Signal, 64)
	opts.SignalsCaught = catchSignals(signals)
	p, err := libcontainer.Exec(opts)
	if err != nil {
		return err
	}
	code, startErr, waitErr := superviseForeground(p, signals)
	if startErr != nil {
		return startErr
	}
	if waitErr != nil {
		return waitErr
	}
	return exitCode(code)
}
