package main

import (
	"fmt"

	"github.com/berth-project/berth/internal/cli"
)

// checkpoint and restore need CRIU, which berth does not drive (yet). They
// take runc's flags, so that --help lists them and a caller's command line
// parses, and then refuse.
func notSupported(name, argsUsage string, flags ...cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "not supported: berth does not " + name + " containers (CRIU)",
		ArgsUsage: argsUsage,
		Flags:     flags,
		Action: func(c *cli.Context) error {
			return fmt.Errorf("%s: not supported: berth cannot checkpoint or restore containers", name)
		},
	}
}

func criuStrings(names ...string) []cli.Flag {
	var out []cli.Flag
	for _, n := range names {
		out = append(out, &cli.StringFlag{Name: n, Usage: "(CRIU; not supported)"})
	}
	return out
}

func criuBools(names ...string) []cli.Flag {
	var out []cli.Flag
	for _, n := range names {
		out = append(out, &cli.BoolFlag{Name: n, Usage: "(CRIU; not supported)"})
	}
	return out
}

var (
	checkpointCommand = notSupported("checkpoint", "<container-id>", append(
		criuStrings("image-path", "work-path", "parent-path", "status-fd", "page-server", "manage-cgroups-mode", "empty-ns"),
		criuBools("leave-running", "tcp-established", "ext-unix-sk", "shell-job", "lazy-pages", "file-locks", "pre-dump", "auto-dedup")...)...)
	restoreCommand = notSupported("restore", "<container-id>", append(append(
		criuStrings("console-socket", "image-path", "work-path", "manage-cgroups-mode", "pid-file", "empty-ns", "lsm-profile", "lsm-mount-context"),
		criuBools("tcp-established", "ext-unix-sk", "shell-job", "file-locks", "no-subreaper", "no-pivot", "auto-dedup", "lazy-pages")...),
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "(CRIU; not supported)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "(CRIU; not supported)"})...)
)
