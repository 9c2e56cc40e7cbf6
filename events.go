package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage and OOM events as JSON lines",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "stats", Usage: "print one stats event and exit"},
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats events"},
	},
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		if c.Duration("interval") <= 0 {
			return fmt.Errorf("events: --interval must be positive")
		}
		root := c.String("root")
		enc := json.NewEncoder(os.Stdout)
		if c.Bool("stats") {
			st, err := libcontainer.ContainerStats(root, id)
			if err != nil {
				return err
			}
			return enc.Encode(libcontainer.Event{Type: "stats", ID: id, Data: st})
		}
		return libcontainer.Events(root, id, c.Duration("interval"), func(ev libcontainer.Event) error {
			return enc.Encode(ev)
		})
	},
}
