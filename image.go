package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/internal/cli"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/libcontainer"
)

// delete removes what run --image and create --image made: the generated
// bundle with the rootfs mount and its upper directory; the memfd copy of
// berth (CVE-2019-5736 fallback) leaves out the appended image puller.
func init() {
	libcontainer.BeforeRemove = image.RemoveBundle
	libcontainer.ExeLength = func(f *os.File) int64 {
		off, _, err := image.FindAppended(f)
		if err != nil {
			return -1
		}
		return off
	}
}

var imageCommand = &cli.Command{
	Name:            "image",
	Usage:           "manage images: pull [--insecure] SOURCE [NAME], ls, rm NAME...",
	ArgsUsage:       "pull [--insecure] SOURCE [NAME] | ls | rm NAME...",
	SkipFlagParsing: true,
	Action: func(c *cli.Context) error {
		args := c.Args().Slice()
		if len(args) == 0 {
			return errors.New("image: missing subcommand (usage: berth image pull [--insecure] SOURCE [NAME] | ls | rm NAME...)")
		}
		dir := image.DataDir()
		switch args[0] {
		case "-h", "--help", "help":
			fmt.Println("usage: berth image pull [--insecure] SOURCE [NAME]   (SOURCE: oci:DIR[:TAG], docker-archive:FILE, docker://REF or REF)")
			fmt.Println("       berth image ls")
			fmt.Println("       berth image rm NAME...")
			fmt.Printf("store: %s ($BERTH_DATA_DIR)\n", dir)
			return nil
		case "pull":
			if len(args) < 2 || len(args) > 4 {
				return errors.New("image pull: usage: berth image pull [--insecure] SOURCE [NAME]")
			}
			if os.Geteuid() != 0 {
				return inUserNS(dir, args)
			}
			code, err := image.RunPuller(append([]string{"pull", "--store", dir}, args[1:]...))
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code) // the puller said why
			}
			return nil
		case "ls", "list":
			if len(args) > 1 {
				return fmt.Errorf("image ls: unexpected arguments %q", args[1:])
			}
			return listImages(dir)
		case "rm", "remove":
			if len(args) < 2 {
				return errors.New("image rm: missing image name (usage: berth image rm NAME...)")
			}
			if os.Geteuid() != 0 {
				return inUserNS(dir, args)
			}
			st, err := image.Open(dir)
			if err != nil {
				return err
			}
			return st.Remove(args[1:]...)
		}
		return fmt.Errorf("image: unknown subcommand %q (pull, ls or rm)", args[0])
	},
}

func listImages(dir string) error {
	st, err := image.Open(dir)
	if err != nil {
		return err
	}
	recs, err := st.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tLAYERS\tSIZE")
	for _, r := range recs {
		d := strings.TrimPrefix(r.Digest, "sha256:")
		if len(d) > 12 {
			d = d[:12]
		}
		size := "-" // a docker-archive's layers come uncompressed, without sizes
		if r.Size > 0 {
			size = fmt.Sprintf("%.1f MB", float64(r.Size)/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Name, d, len(r.Layers), size)
	}
	return tw.Flush()
}

// containerArgs is the ID and, with --image, the command that replaces the
// image's Cmd.
func containerArgs(c *cli.Context) (string, []string, error) {
	if c.String("image") == "" {
		id, err := oneID(c)
		return id, nil, err
	}
	if c.NArg() < 1 {
		return "", nil, oneIDErr(c)
	}
	id := c.Args().First()
	return id, c.Args().Tail(), libcontainer.ValidateID(id)
}

// useImage makes the bundle of a container of image name (generated config
// and overlay rootfs) and points opts at it. undo removes it again, for a
// create that failed; once the container exists, its delete removes it.
func useImage(opts *libcontainer.CreateOpts, name string, args []string) (undo func(), err error) {
	st, err := image.Open(image.DataDir())
	if err != nil {
		return nil, err
	}
	dir, err := st.MakeBundle(name, opts.ID, opts.Root, libcontainer.ExampleSpec(), args)
	if err != nil {
		return nil, err
	}
	opts.Bundle = dir
	root, id := opts.Root, opts.ID
	return func() {
		if err := image.RemoveBundle(root, id, dir, map[string]string{image.AnnotationImage: name}); err != nil {
			logs.Warn(err)
		}
	}, nil
}
