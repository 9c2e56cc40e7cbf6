package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

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
		st, err := libcontainer.ContainerStats(root, id)
		if err != nil {
			return err
		}
		if c.Bool("stats") {
			return enc.Encode(libcontainer.Event{Type: "stats", ID: id, Data: st})
		}
		ooms, _ := libcontainer.OOMKills(root, id)
		for {
			if err := enc.Encode(libcontainer.Event{Type: "stats", ID: id, Data: st}); err != nil {
				return err
			}
			// OOM kills are polled between stats: one event per new kill.
			for deadline := time.Now().Add(c.Duration("interval")); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				n, err := libcontainer.OOMKills(root, id)
				if err != nil {
					return nil // the container is gone: the stream ends
				}
				for ; ooms < n; ooms++ {
					enc.Encode(libcontainer.Event{Type: "oom", ID: id})
				}
			}
			if st, err = libcontainer.ContainerStats(root, id); err != nil {
				return nil
			}
		}
	},
}
