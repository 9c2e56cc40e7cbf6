// Command berth-pull is berth's image puller: `berth image pull` runs it.
// It is built separately and appended to the berth file (`berth-pull
// --append-to berth`, done by the Makefile), so that its code, which brings
// net/http, TLS and go-containerregistry, is in the one berth file without
// being mapped by any berth process that does not pull (image/puller.go).
//
// Usage: berth-pull pull [--insecure] --store DIR SOURCE [NAME]
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/image"
	"github.com/berth-project/berth/image/pull"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "berth: "+strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "--append-to" {
		return appendTo(args[1])
	}
	if len(args) == 0 || args[0] != "pull" {
		return errors.New("usage: berth-pull pull [--insecure] --store DIR SOURCE [NAME]")
	}
	o := pull.Options{}
	store := ""
	var pos []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--insecure":
			o.Insecure = true
		case a == "--store" && i+1 < len(args):
			i++
			store = args[i]
		default:
			pos = append(pos, a)
		}
	}
	if store == "" || len(pos) < 1 || len(pos) > 2 {
		return errors.New("usage: berth image pull [--insecure] SOURCE [NAME]")
	}
	o.Source = pos[0]
	if len(pos) == 2 {
		o.Name = pos[1]
	}
	st, err := image.Open(store)
	if err != nil {
		return err
	}
	// Progress goes to stdout, so that stderr holds nothing but an error.
	o.Progress = pull.NewProgress(os.Stdout, 1)
	// A signal ends the pull: what it wrote is under its tmp/ directory,
	// removed here (what the pull still writes meanwhile, by the next pull).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	tmp := make(chan string, 1)
	o.TmpDir = func(d string) { tmp <- d }
	done := make(chan error, 1)
	go func() {
		r, err := pull.Pull(st, o)
		if err == nil {
			fmt.Printf("%s %s\n", r.Name, r.Digest)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case s := <-sigs:
		select {
		case d := <-tmp:
			os.RemoveAll(d)
		default:
		}
		return fmt.Errorf("image pull of %s: stopped by %v", o.Source, s)
	}
}

// appendTo appends this program to berth's file, with the trailer berth
// finds it by (image.FindAppended); a puller appended before is replaced.
func appendTo(path string) error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if off, _, err := image.FindAppended(f); err == nil {
		if err := f.Truncate(off); err != nil {
			return err
		}
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, self)
	if err != nil {
		return err
	}
	t := make([]byte, 0, image.TrailerSize)
	t = append(t, image.PullerMagic...)
	t = binary.LittleEndian.AppendUint64(t, uint64(end))
	t = binary.LittleEndian.AppendUint64(t, uint64(n))
	_, err = f.Write(t)
	return err
}
