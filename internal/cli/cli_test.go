package cli

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seen is what a test command's Action saw.
type seen struct {
	ran                bool
	root, bundle, fmt  string
	detach, tty, keep  bool
	fds                int
	every              time.Duration
	env                []string
	args               []string
	rootSet, bundleSet bool
	globalDebug, quiet bool
	commandName, first string
	tail               []string
}

func testApp(s *seen) *App {
	action := func(c *Context) error {
		*s = seen{
			ran: true, root: c.String("root"), bundle: c.String("bundle"), fmt: c.String("format"),
			detach: c.Bool("detach"), tty: c.Bool("tty"), keep: c.Bool("keep"), fds: c.Int("preserve-fds"),
			every: c.Duration("interval"), env: c.StringSlice("env"), args: c.Args().Slice(),
			rootSet: c.IsSet("root"), bundleSet: c.IsSet("b"), globalDebug: c.Bool("debug"), quiet: c.Bool("q"),
			commandName: c.Command.Name, first: c.Args().First(), tail: c.Args().Tail(),
		}
		return nil
	}
	return &App{
		Name: "berth", UseShortOptionHandling: true,
		Flags: []Flag{
			&StringFlag{Name: "root", Value: "/run/berth"},
			&BoolFlag{Name: "debug"},
		},
		Commands: []*Command{{
			Name: "run", Aliases: []string{"r"}, Action: action,
			Flags: []Flag{
				&StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: "."},
				&BoolFlag{Name: "detach", Aliases: []string{"d"}},
				&BoolFlag{Name: "tty", Aliases: []string{"t"}},
				&BoolFlag{Name: "keep"},
				&IntFlag{Name: "preserve-fds"},
				&DurationFlag{Name: "interval", Value: 5 * time.Second},
				&StringSliceFlag{Name: "env", Aliases: []string{"e"}},
				&StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table"},
				&BoolFlag{Name: "quiet", Aliases: []string{"q"}},
			},
		}, {
			Name: "raw", SkipFlagParsing: true, Action: action,
		}, {
			Name: "ex", SkipArgReorder: true, Action: action,
			Flags: []Flag{&BoolFlag{Name: "detach", Aliases: []string{"d"}}, &StringSliceFlag{Name: "env", Aliases: []string{"e"}}},
		}},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args string
		want seen
	}{
		{"defaults", "run id", seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"global and command flags", "--root /tmp/r --debug run -b /b --detach id",
			seen{root: "/tmp/r", rootSet: true, globalDebug: true, bundle: "/b", bundleSet: true, detach: true, fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"single dash long, equals", "-root=/x run -bundle=/b --preserve-fds=2 --interval 1s id",
			seen{root: "/x", rootSet: true, bundle: "/b", bundleSet: true, fds: 2, fmt: "table", every: time.Second, args: []string{"id"}}},
		{"bool with value", "run --detach=false --keep=true id",
			seen{root: "/run/berth", bundle: ".", keep: true, fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"combined letters", "run -dtq id",
			seen{root: "/run/berth", bundle: ".", detach: true, tty: true, quiet: true, fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"repeated slice keeps commas", "run -e A=1,2 --env B=3 id",
			seen{root: "/run/berth", bundle: ".", env: []string{"A=1,2", "B=3"}, fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"SkipArgReorder: flags stop at the first argument", "ex id --detach sh -e x",
			seen{root: "/run/berth", args: []string{"id", "--detach", "sh", "-e", "x"}, commandName: "ex"}},
		{"SkipArgReorder: flags before the argument", "ex -d -e A=1 -- id sh",
			seen{root: "/run/berth", detach: true, env: []string{"A=1"}, args: []string{"id", "sh"}, commandName: "ex"}},
		{"double dash", "run -d -- -id",
			seen{root: "/run/berth", bundle: ".", detach: true, fmt: "table", every: 5 * time.Second, args: []string{"-id"}}},
		{"bool flag after the argument", "run id --detach",
			seen{root: "/run/berth", bundle: ".", detach: true, fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"value flags after the argument", "run id -b /b --preserve-fds=3 -f -x",
			seen{root: "/run/berth", bundle: "/b", bundleSet: true, fds: 3, fmt: "-x", every: 5 * time.Second, args: []string{"id"}}},
		{"flags between arguments keep the arguments' order", "run --keep id -e A=1 x --tty y",
			seen{root: "/run/berth", bundle: ".", keep: true, tty: true, env: []string{"A=1"}, fmt: "table", every: 5 * time.Second, args: []string{"id", "x", "y"}}},
		{"a bool flag does not take the next argument", "run id -q 9",
			seen{root: "/run/berth", bundle: ".", quiet: true, fmt: "table", every: 5 * time.Second, args: []string{"id", "9"}}},
		{"double dash after an argument stays, and nothing after it moves", "run id -- --detach",
			seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id", "--", "--detach"}}},
		{"double dash first ends the flags", "run -- id --detach",
			seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id", "--detach"}}},
		{"combined letters and unknown flags after the argument stay arguments", "run id -dt --bogus -",
			seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id", "-dt", "--bogus", "-"}}},
		{"global flags after the command are not the command's", "run id --root /x",
			seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id", "--root", "/x"}}},
		{"value that looks like a flag", "run -f -x id",
			seen{root: "/run/berth", bundle: ".", fmt: "-x", every: 5 * time.Second, args: []string{"id"}}},
		{"alias of a command", "r id",
			seen{root: "/run/berth", bundle: ".", fmt: "table", every: 5 * time.Second, args: []string{"id"}}},
		{"skip flag parsing", "raw --anything -x",
			seen{root: "/run/berth", args: []string{"--anything", "-x"}, commandName: "raw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got seen
			if err := testApp(&got).Run(append([]string{"berth"}, strings.Fields(tc.args)...)); err != nil {
				t.Fatalf("Run(%s): %v", tc.args, err)
			}
			if !got.ran {
				t.Fatal("the action did not run")
			}
			tc.want.ran = true
			if tc.want.commandName == "" {
				tc.want.commandName = "run"
			}
			tc.want.first = Args(tc.want.args).First()
			tc.want.tail = Args(tc.want.args).Tail()
			if tc.want.env == nil {
				tc.want.env = got.env // nil and empty alike
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Run(%s):\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"nope", `no command "nope"`},
		{"run --bogus id", "run: unknown flag --bogus"},
		{"run -xyz id", "run: unknown flag -xyz"},
		{"--root", "flag --root needs a value"},
		{"run --bundle", "run: flag --bundle needs a value"},
		{"run id --bundle", "run: flag --bundle needs a value"},
		{"run --preserve-fds two id", `run: --preserve-fds "two": not a number`},
		{"run --interval 5 id", `run: --interval "5": not a duration`},
		{"run --detach=maybe id", `run: --detach "maybe": not true or false`},
		{"run ---x id", `run: bad flag syntax "---x"`},
		{"help nope", `help: no command "nope"`},
	} {
		var got seen
		err := testApp(&got).Run(append([]string{"berth"}, strings.Fields(tc.args)...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%s) = %v; want an error with %q", tc.args, err, tc.want)
		}
		if got.ran {
			t.Errorf("Run(%s): the action ran", tc.args)
		}
	}
}

// TestHelpAndVersion checks that help and version print and run nothing.
func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"", "Commands:"},
		{"--help", "--root value"},
		{"help run", "--bundle, -b value"},
		{"run --help", "(may be repeated)"},
		{"run -h", `(default: "table")`},
		{"run id --help", "--bundle, -b value"},
		{"run id x -h", "--bundle, -b value"},
		{"--version", "berth version 1.2"},
		{"-v", "berth version 1.2"},
	} {
		var got seen
		app := testApp(&got)
		app.Version = "1.2"
		out := captureStdout(t, func() {
			if err := app.Run(append([]string{"berth"}, strings.Fields(tc.args)...)); err != nil {
				t.Errorf("Run(%s): %v", tc.args, err)
			}
		})
		if !strings.Contains(out, tc.want) {
			t.Errorf("Run(%s) printed %q; want %q in it", tc.args, out, tc.want)
		}
		if got.ran {
			t.Errorf("Run(%s): the action ran", tc.args)
		}
	}
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	b := make([]byte, 1<<16)
	n, _ := r.Read(b)
	r.Close()
	return string(b[:n])
}
