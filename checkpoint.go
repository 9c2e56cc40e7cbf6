package main

import (
	"fmt"

	"github.com/berth-project/berth/internal/cli"
)

// checkpoint and restore need CRIU, which berth does not drive (yet).
func notSupported(name string) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           "not supported: berth does not checkpoint containers (CRIU)",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return fmt.Errorf("%s: not supported: berth cannot checkpoint or restore containers", name)
		},
	}
}

var (
	checkpointCommand = notSupported("checkpoint")
	restoreCommand    = notSupported("restore")
)
