package main

import (
	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start the workload of a created container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return libcontainer.Start(c.String("root"), id)
	},
}
