// Package cli parses berth's command line the way runc's callers write it:
// global flags, one command, the command's flags, then its arguments.
//
// It owns the parsing, the flag types and the Context a command reads its
// flags from; help.go prints the help. Flags follow Go's flag package:
// -name and --name are the same, a value comes as --name=value or as the
// next argument, bool flags take an optional =value, parsing stops at the
// first argument that is not a flag (or after "--"), and single-letter bool
// flags combine (-dt) when the App asks for it.
//
// A command's flags may also follow its arguments (`update ID --pids-limit
// 42`), as urfave/cli v1 let runc's users write them: before parsing, each
// argument that names one of the command's flags moves, with its value,
// ahead of the others; "--" and what follows it stay in place. A command
// whose arguments are another program's (exec, ps) sets SkipArgReorder.
//
// It replaces urfave/cli, whose API it keeps where berth used it. That
// library prints its help through text/template, and text/template calls
// methods by name through reflection, so the linker must keep every exported
// method of every type in the program: 2 MB of a 6.9 MB binary, which the
// kernel maps into every berth process (docs/performance.md).
package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// App is the program: its global flags and its commands.
type App struct {
	Name, Usage, Version string
	// UseShortOptionHandling lets single-letter bool flags combine: -dt.
	UseShortOptionHandling bool
	Flags                  []Flag
	// Before runs after the global flags are parsed and the command is
	// found, before the command's own flags.
	Before   func(*Context) error
	Commands []*Command // Run returns every error; the caller reports it
}

// Command is one subcommand.
type Command struct {
	Name      string
	Aliases   []string
	Usage     string
	ArgsUsage string
	Flags     []Flag
	Action    func(*Context) error
	// SkipFlagParsing hands every argument to Action as it is.
	SkipFlagParsing bool
	// SkipArgReorder stops flag parsing at the first argument that is not
	// a flag: what follows belongs to the command's own arguments.
	SkipArgReorder bool
}

// VersionPrinter prints --version; the default prints the name and version.
var VersionPrinter = func(c *Context) { fmt.Printf("%s version %s\n", c.App.Name, c.App.Version) }

// Flag is one of the flag types below.
type Flag interface{ spec() *flagSpec }

type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindDuration
	kindStrings
)

// flagSpec is what every flag type describes: its names, kind and default.
type flagSpec struct {
	name    string
	aliases []string
	usage   string
	hidden  bool
	kind    kind
	def     any
}

// StringFlag takes one string; Value is its default.
type StringFlag struct {
	Name    string
	Aliases []string
	Value   string
	Usage   string
	Hidden  bool
}

// BoolFlag is false unless given.
type BoolFlag struct {
	Name    string
	Aliases []string
	Usage   string
	Hidden  bool
}

// IntFlag takes a decimal integer; Value is its default.
type IntFlag struct {
	Name    string
	Aliases []string
	Value   int
	Usage   string
	Hidden  bool
}

// DurationFlag takes a Go duration (5s, 100ms); Value is its default.
type DurationFlag struct {
	Name    string
	Aliases []string
	Value   time.Duration
	Usage   string
	Hidden  bool
}

// StringSliceFlag may be given many times; each value is kept whole (no
// splitting at commas: an environment variable's value may hold one).
type StringSliceFlag struct {
	Name    string
	Aliases []string
	Usage   string
	Hidden  bool
}

func (f *StringFlag) spec() *flagSpec {
	return &flagSpec{f.Name, f.Aliases, f.Usage, f.Hidden, kindString, f.Value}
}
func (f *BoolFlag) spec() *flagSpec {
	return &flagSpec{f.Name, f.Aliases, f.Usage, f.Hidden, kindBool, false}
}
func (f *IntFlag) spec() *flagSpec {
	return &flagSpec{f.Name, f.Aliases, f.Usage, f.Hidden, kindInt, f.Value}
}
func (f *DurationFlag) spec() *flagSpec {
	return &flagSpec{f.Name, f.Aliases, f.Usage, f.Hidden, kindDuration, f.Value}
}
func (f *StringSliceFlag) spec() *flagSpec {
	return &flagSpec{f.Name, f.Aliases, f.Usage, f.Hidden, kindStrings, []string(nil)}
}

// Args are the arguments left after the flags.
type Args []string

// First is the first argument, or "".
func (a Args) First() string { return a.Get(0) }

// Get is argument n, or "".
func (a Args) Get(n int) string {
	if n < len(a) {
		return a[n]
	}
	return ""
}

// Tail is every argument after the first.
func (a Args) Tail() []string {
	if len(a) < 2 {
		return []string{}
	}
	return a[1:]
}

// Slice is every argument.
func (a Args) Slice() []string { return a }

// Len is the number of arguments.
func (a Args) Len() int { return len(a) }

// Context is what a command sees: its flags, its arguments, and through its
// parent the global flags.
type Context struct {
	App     *App
	Command *Command // nil at the top level
	parent  *Context
	flags   map[string]*flagSpec // by every name and alias
	values  map[string]any       // by flag name, the ones given
	args    Args
}

// lookup finds a flag by any of its names, here or in a parent context, and
// returns its value (the default when it was not given).
func (c *Context) lookup(name string) (any, bool) {
	for ; c != nil; c = c.parent {
		if f := c.flags[name]; f != nil {
			if v, ok := c.values[f.name]; ok {
				return v, true
			}
			return f.def, false
		}
	}
	return nil, false
}

// String is a string flag's value ("" for an unknown name).
func (c *Context) String(name string) string { v, _ := c.lookup(name); s, _ := v.(string); return s }

// Bool is a bool flag's value.
func (c *Context) Bool(name string) bool { v, _ := c.lookup(name); b, _ := v.(bool); return b }

// Int is an int flag's value.
func (c *Context) Int(name string) int { v, _ := c.lookup(name); n, _ := v.(int); return n }

// Duration is a duration flag's value.
func (c *Context) Duration(name string) time.Duration {
	v, _ := c.lookup(name)
	d, _ := v.(time.Duration)
	return d
}

// StringSlice is every value a slice flag was given, in order.
func (c *Context) StringSlice(name string) []string {
	v, _ := c.lookup(name)
	s, _ := v.([]string)
	return s
}

// IsSet tells whether the flag was given on the command line.
func (c *Context) IsSet(name string) bool { _, set := c.lookup(name); return set }

// Args are the arguments after the flags.
func (c *Context) Args() Args { return c.args }

// NArg is the number of arguments after the flags.
func (c *Context) NArg() int { return len(c.args) }

var (
	helpFlag    = &BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
	versionFlag = &BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}
)

// Run parses args (args[0] is the program) and runs the command they name.
// Help and version requests print to stdout and return nil.
func (a *App) Run(args []string) error {
	top := &Context{App: a}
	var err error
	if top.args, err = top.parse(append(a.Flags, helpFlag, versionFlag), args[1:], a.UseShortOptionHandling, false); err != nil {
		return err
	}
	switch {
	case top.Bool("help"):
		return a.printHelp(os.Stdout)
	case top.Bool("version"):
		VersionPrinter(top)
		return nil
	case top.NArg() == 0:
		return a.printHelp(os.Stdout)
	}
	name := top.args[0]
	if name == "help" {
		if top.NArg() > 1 {
			if cmd := a.command(top.args[1]); cmd != nil {
				return a.printCommandHelp(os.Stdout, cmd)
			}
			return fmt.Errorf("help: no command %q (%s --help lists them)", top.args[1], a.Name)
		}
		return a.printHelp(os.Stdout)
	}
	cmd := a.command(name)
	if cmd == nil {
		return fmt.Errorf("no command %q (%s --help lists them)", name, a.Name)
	}
	if a.Before != nil {
		if err := a.Before(top); err != nil {
			return err
		}
	}
	c := &Context{App: a, Command: cmd, parent: top}
	if cmd.SkipFlagParsing {
		c.args = top.args[1:]
		for _, arg := range c.args { // its own flags are its Action's, but not help
			if arg == "-h" || arg == "--help" {
				return a.printCommandHelp(os.Stdout, cmd)
			}
		}
	} else {
		if c.args, err = c.parse(append(cmd.Flags, helpFlag), top.args[1:], a.UseShortOptionHandling, !cmd.SkipArgReorder); err != nil {
			return fmt.Errorf("%s: %w", cmd.Name, err)
		}
		if c.values["help"] == true {
			return a.printCommandHelp(os.Stdout, cmd)
		}
	}
	return cmd.Action(c)
}

func (a *App) command(name string) *Command {
	for _, cmd := range a.Commands {
		if cmd.Name == name {
			return cmd
		}
		for _, alias := range cmd.Aliases {
			if alias == name {
				return cmd
			}
		}
	}
	return nil
}

// parse reads flags from args into c and returns the arguments after them;
// with reorder, flags after the arguments count too.
func (c *Context) parse(flags []Flag, args []string, combine, reorder bool) (Args, error) {
	c.flags, c.values = map[string]*flagSpec{}, map[string]any{}
	for _, f := range flags {
		s := f.spec()
		for _, n := range append([]string{s.name}, s.aliases...) {
			c.flags[n] = s
		}
	}
	if reorder {
		var err error
		if args, err = c.reorder(args); err != nil {
			return nil, err
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return args[i+1:], nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			return args[i:], nil
		}
		dashes := 1
		if arg[1] == '-' {
			dashes = 2
		}
		name, value, hasValue := strings.Cut(arg[dashes:], "=")
		if name == "" || name[0] == '-' {
			return nil, fmt.Errorf("bad flag syntax %q", arg)
		}
		f := c.flags[name]
		if f == nil {
			if combine && dashes == 1 && !hasValue && c.setLetters(name) {
				continue
			}
			return nil, fmt.Errorf("unknown flag %s (add --help for the list)", arg)
		}
		if f.kind != kindBool && !hasValue {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag %s needs a value", arg[:dashes+len(name)])
			}
			i++
			value = args[i]
		}
		if err := c.set(f, value, hasValue); err != nil {
			return nil, fmt.Errorf("--%s %q: %w", f.name, value, err)
		}
	}
	return Args{}, nil
}

// reorder moves every argument that names one of c's flags (-name,
// --name, --name=value), and the value of a flag that takes one, ahead of
// the other arguments; from "--" on nothing moves. urfave/cli v1 moved the
// next argument along after a bool flag too (so `kill ID --all 9` took 9 as
// the ID); here a bool flag moves alone, and what runc refused works. A
// value flag that ends the line has no value: an error, not the argument
// before it.
func (c *Context) reorder(args []string) ([]string, error) {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		f := c.namedFlag(arg)
		if f == nil {
			rest = append(rest, arg)
			continue
		}
		flags = append(flags, arg)
		if f.kind != kindBool && !strings.Contains(arg, "=") {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag %s needs a value", arg)
			}
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, rest...), nil
}

// namedFlag is the flag that arg names exactly, or nil ("-dt" names none).
func (c *Context) namedFlag(arg string) *flagSpec {
	if len(arg) < 2 || arg[0] != '-' {
		return nil
	}
	name := strings.TrimPrefix(arg[1:], "-")
	name, _, _ = strings.Cut(name, "=")
	return c.flags[name]
}

// setLetters sets -abc as -a -b -c when every letter is a bool flag.
func (c *Context) setLetters(letters string) bool {
	for _, r := range letters {
		if f := c.flags[string(r)]; f == nil || f.kind != kindBool {
			return false
		}
	}
	for _, r := range letters {
		c.values[c.flags[string(r)].name] = true
	}
	return true
}

var errNotNumber = errors.New("not a number")

func (c *Context) set(f *flagSpec, value string, hasValue bool) error {
	switch f.kind {
	case kindBool:
		b := true
		if hasValue {
			var err error
			if b, err = strconv.ParseBool(value); err != nil {
				return errors.New("not true or false")
			}
		}
		c.values[f.name] = b
	case kindInt:
		n, err := strconv.Atoi(value)
		if err != nil {
			return errNotNumber
		}
		c.values[f.name] = n
	case kindDuration:
		d, err := time.ParseDuration(value)
		if err != nil {
			return errors.New("not a duration (like 5s or 100ms)")
		}
		c.values[f.name] = d
	case kindStrings:
		old, _ := c.values[f.name].([]string)
		c.values[f.name] = append(old, value)
	default:
		c.values[f.name] = value
	}
	return nil
}
