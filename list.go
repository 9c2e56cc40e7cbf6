package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/libcontainer"
)

var listCommand = &cli.Command{
	Name:    "list",
	Aliases: []string{"ls"},
	Usage:   "list containers",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the IDs"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("list: unexpected arguments %q", c.Args().Slice())
		}
		format := c.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("list: --format %q: must be table or json", format)
		}
		ctrs, errs, err := libcontainer.List(c.String("root"))
		// As runc 1.2 and later: a default root that does not exist yet
		// holds no containers; a --root that does not exist is an error
		// (most likely a typo).
		if err != nil && (!errors.Is(err, os.ErrNotExist) || c.IsSet("root")) {
			return err
		}
		for _, err := range errs {
			logs.Warn(err)
		}
		if c.Bool("quiet") {
			for _, ctr := range ctrs {
				fmt.Println(ctr.ID)
			}
			return nil
		}
		reports := make([]libcontainer.Report, 0, len(ctrs))
		for _, ctr := range ctrs {
			reports = append(reports, ctr.Report())
		}
		if format == "json" {
			return json.NewEncoder(os.Stdout).Encode(reports) // compact, as runc prints it
		}
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, r := range reports {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.PID, r.Status, r.Bundle, r.Created.Format(time.RFC3339Nano), r.Owner)
		}
		return w.Flush()
	},
}
