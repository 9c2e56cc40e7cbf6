package main

import (
	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		return libcontainer.Resume(c.String("root"), id)
	},
}
