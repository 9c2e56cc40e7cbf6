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
	Name:            "network",
	Usage:           "manage berth networks: ls | create NAME [--subnet CIDR] [--bridge DEV] | rm NAME",
	ArgsUsage:       "ls|create|rm [NAME]",
	SkipFlagParsing: true,
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
			return networkCreate(s, args[1:])
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

func networkCreate(s *network.Store, args []string) error {
	var name, subnet, bridge string
	for i := 0; i < len(args); i++ {
		flag, val, hasVal := cutFlag(args[i])
		switch flag {
		case "--subnet", "--bridge":
			if !hasVal {
				if i+1 == len(args) {
					return fmt.Errorf("network create: %s needs a value", flag)
				}
				i++
				val = args[i]
			}
			if flag == "--subnet" {
				subnet = val
			} else {
				bridge = val
			}
		default:
			if name != "" || len(args[i]) > 0 && args[i][0] == '-' {
				return fmt.Errorf("network create: unexpected %q (want NAME [--subnet CIDR] [--bridge DEV])", args[i])
			}
			name = args[i]
		}
	}
	if name == "" {
		return errors.New("network create: want a network name")
	}
	if _, err := s.Create(name, subnet, bridge); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("network %s: already exists", name)
		}
		return err
	}
	return nil
}

// cutFlag splits --flag=value.
func cutFlag(arg string) (flag, val string, hasVal bool) {
	for i := 0; i < len(arg); i++ {
		if arg[i] == '=' {
			return arg[:i], arg[i+1:], true
		}
	}
	return arg, "", false
}
