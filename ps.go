package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "<container-id> [ps options]",
	// What follows the ID is the command's own (as runc): not reordered.
	SkipArgReorder: true,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table (ps output) or json (host PIDs)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() < 1 {
			return oneIDErr(c)
		}
		id := c.Args().First()
		if err := libcontainer.ValidateID(id); err != nil {
			return err
		}
		pids, err := libcontainer.Pids(c.String("root"), id)
		if err != nil {
			return err
		}
		switch c.String("format") {
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids) // compact, as runc prints it
		case "table":
			return psTable(pids, c.Args().Tail())
		default:
			return fmt.Errorf("ps: --format %q: must be table or json", c.String("format"))
		}
	},
}

// psTable runs the host's ps (with the given options, -ef by default) and
// keeps its header and the container's processes, as runc does.
func psTable(pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	pidCol := -1
	for i, h := range strings.Fields(lines[0]) {
		if h == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return fmt.Errorf("ps %s: no PID column in its output", strings.Join(psArgs, " "))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > pidCol {
			if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
				fmt.Println(l)
			}
		}
	}
	return nil
}
