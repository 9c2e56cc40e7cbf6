package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/network"
)

var networkCommand = &cli.Command{
	Name:      "network",
	Usage:     "manage berth networks: ls | create NAME [--subnet CIDR] [--bridge DEV] | rm NAME",
	ArgsUsage: "ls|create|rm [NAME]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "subnet", Usage: "create: the network's IPv4 subnet (default: the first free 10.N.0.0/16)"},
		&cli.StringFlag{Name: "bridge", Usage: "create: the bridge device's name (default: br-<hash of the name>)"},
	},
	Action: func(c *cli.Context) error {
		args := c.Args().Slice()
		if len(args) == 0 {
			return errors.New("network: want ls, create NAME or rm NAME")
		}
		s := network.DefaultStore()
		switch args[0] {
		case "ls", "list":
			if len(args) != 1 {
				return errors.New("network ls: takes no arguments")
			}
			return networkList(s)
		case "create":
			if len(args) != 2 {
				return errors.New("network create: want one network name")
			}
			if _, err := s.Create(args[1], c.String("subnet"), c.String("bridge")); err != nil {
				if errors.Is(err, os.ErrExist) {
					return fmt.Errorf("network %s: already exists", args[1])
				}
				return err
			}
			return nil
		case "rm", "remove":
			if len(args) != 2 {
				return errors.New("network rm: want one network name")
			}
			return s.Remove(args[1])
		}
		return fmt.Errorf("network %s: unknown (want ls, create or rm)", args[0])
	},
}

func networkList(s *network.Store) error {
	list, err := s.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSUBNET\tBRIDGE")
	for _, n := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\n", n.Name, n.Subnet, n.Bridge)
	}
	return w.Flush()
}
