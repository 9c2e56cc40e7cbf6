package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/tty"
	"github.com/berth-project/berth/libcontainer"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container; in the foreground, wait for it and return its exit code",
	ArgsUsage: "<container-id> (with --image: <container-id> [COMMAND [ARG...]])",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the workload runs"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container when it exits"},
	}, bundleFlags...),
	Action: func(c *cli.Context) error {
		id, args, err := containerArgs(c)
		if err != nil {
			return err
		}
		opts := createOpts(c, id)
		undo := func() {}
		if name := c.String("image"); name != "" {
			if undo, err = useImage(&opts, name, args); err != nil {
				return err
			}
		}
		if c.Bool("detach") {
			if _, err := libcontainer.Create(opts); err != nil {
				undo()
				return err
			}
			return libcontainer.Start(opts.Root, id)
		}
		return runForeground(opts, c.Bool("keep"), undo)
	},
}

// runForeground runs the workload as berth's child: signals sent to berth
// go to the workload, its terminal is proxied, and its exit code is berth's.
// undo removes what was made for the create (a generated bundle) if it
// fails.
func runForeground(opts libcontainer.CreateOpts, keep bool, undo func()) error {
	opts.Foreground = true
	signals := make(chan os.Signal, 64)
	opts.SignalsCaught = catchSignals(signals) // forwarded once it runs
	p, err := libcontainer.Create(opts)
	if err != nil {
		undo()
		return err
	}
	code, startErr, waitErr := superviseForeground(p, signals)
	if !keep {
		if err := libcontainer.Delete(opts.Root, opts.ID, true); err != nil {
			return err
		}
	}
	if startErr != nil {
		return startErr
	}
	if waitErr != nil {
		return waitErr
	}
	return exitCode(code)
}

// catchSignals starts catching every signal, for superviseForeground to
// forward, in the background: os/signal enables them one at a time, each a
// round trip to its signal thread, 1-3 ms for all of them here, which now
// overlaps with the create. The channel it returns is closed once every
// signal is caught; Create and Exec wait for it before the workload can run.
func catchSignals(signals chan os.Signal) <-chan struct{} {
	caught := make(chan struct{})
	go func() {
		signal.Notify(signals)
		close(caught)
	}()
	return caught
}

// superviseForeground starts a foreground process and stays with it until it
// exits: it forwards signals, proxies its terminal, and returns its exit code.
func superviseForeground(p *libcontainer.InitProcess, signals chan os.Signal) (code int, startErr, waitErr error) {
	var proxy *tty.Proxy
	if p.Console != nil {
		proxy = tty.Start(p.Console)
	}
	go func() {
		for sig := range signals {
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
			case unix.SIGWINCH:
				if proxy != nil {
					proxy.Resize()
				}
			default:
				unix.Kill(p.Pid, sig.(unix.Signal))
			}
		}
	}()
	startErr = p.Start()
	code, waitErr = p.Wait()
	if proxy != nil {
		proxy.Close()
	}
	return code, startErr, waitErr
}
