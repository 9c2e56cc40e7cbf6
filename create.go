package main

import (
	"os"
	"strconv"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var bundleFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle (config.json and rootfs)"},
	&cli.StringFlag{Name: "pid-file", Usage: "write the container's init PID to this file"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the terminal's master fd"},
	&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket that receives a pidfd of the container's init"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "use a move mount and chroot instead of pivot_root (less secure)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio (3, 4, ...) to the container"},
	&cli.StringFlag{Name: "network", Usage: "none, host, bridge or a network's name (berth network ls); unset: the config decides"},
	&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (repeatable)"},
	&cli.StringFlag{Name: "image", Usage: "make the bundle from this pulled image; arguments after the ID replace its Cmd"},
}

func createOpts(c *cli.Context, id string) libcontainer.CreateOpts {
	return libcontainer.CreateOpts{
		Root: c.String("root"), ID: id, Bundle: c.String("bundle"),
		PidFile: c.String("pid-file"), ConsoleSocket: c.String("console-socket"), PidfdSocket: c.String("pidfd-socket"),
		NoPivot: c.Bool("no-pivot"), NoNewKeyring: c.Bool("no-new-keyring"),
		PreserveFDs: c.Int("preserve-fds"), ListenFDs: listenFDs(),
		SystemdCgroup: c.Bool("systemd-cgroup"),
		Network:       c.String("network"), Publish: c.StringSlice("publish"),
	}
}

// listenFDs is the number of sockets systemd passed to berth itself
// (socket activation: LISTEN_FDS for LISTEN_PID == our PID), which go on to
// the workload as fds 3 and up, before any --preserve-fds.
func listenFDs() int {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container from a bundle; it waits for 'start'",
	ArgsUsage: "<container-id> (with --image: <container-id> [COMMAND [ARG...]])",
	Flags:     bundleFlags,
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
		if _, err = libcontainer.Create(opts); err != nil {
			undo()
		}
		return err
	},
}
