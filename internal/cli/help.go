package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printHelp prints the program's usage, its commands and global flags.
func (a *App) printHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s - %s\n\nUsage: %s [global options] <command> [options] [arguments]\n\nCommands:\n", a.Name, a.Usage, a.Name)
	for _, cmd := range a.Commands {
		name := cmd.Name
		if len(cmd.Aliases) > 0 {
			name += ", " + strings.Join(cmd.Aliases, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, cmd.Usage)
	}
	fmt.Fprintf(tw, "\nGlobal options:\n")
	printFlags(tw, append(a.Flags, helpFlag, versionFlag))
	fmt.Fprintf(tw, "\n'%s help <command>' or '%s <command> --help' shows a command's options.\n", a.Name, a.Name)
	return tw.Flush()
}

// printCommandHelp prints one command's usage and flags.
func (a *App) printCommandHelp(w io.Writer, cmd *Command) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s %s - %s\n\nUsage: %s %s [options] %s\n", a.Name, cmd.Name, cmd.Usage, a.Name, cmd.Name, cmd.ArgsUsage)
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(tw, "Also: %s\n", strings.Join(cmd.Aliases, ", "))
	}
	if !cmd.SkipFlagParsing {
		fmt.Fprintf(tw, "\nOptions:\n")
		printFlags(tw, append(cmd.Flags, helpFlag))
	}
	return tw.Flush()
}

func printFlags(w io.Writer, flags []Flag) {
	for _, f := range flags {
		s := f.spec()
		if s.hidden {
			continue
		}
		names := "--" + s.name
		for _, a := range s.aliases {
			if len(a) == 1 {
				names += ", -" + a
			} else {
				names += ", --" + a
			}
		}
		switch s.kind {
		case kindString, kindStrings:
			names += " value"
		case kindInt:
			names += " n"
		case kindDuration:
			names += " duration"
		}
		usage := s.usage
		switch def := s.def.(type) {
		case string:
			if def != "" {
				usage += fmt.Sprintf(" (default: %q)", def)
			}
		case int:
			if def != 0 {
				usage += fmt.Sprintf(" (default: %d)", def)
			}
		case time.Duration:
			if def != 0 {
				usage += " (default: " + def.String() + ")"
			}
		}
		if s.kind == kindStrings {
			usage += " (may be repeated)"
		}
		fmt.Fprintf(w, "  %s\t%s\n", names, usage)
	}
}
