package main

import (
	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/libcontainer"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print the OCI features document: what this berth supports",
	Action: func(c *cli.Context) error {
		return printJSON(libcontainer.Features())
	},
}
