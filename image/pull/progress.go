package pull

import (
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Progress reports a pull: a bar per layer redrawn in place on a terminal,
// plain lines otherwise. A nil Progress reports nothing.
type Progress struct {
	w   io.Writer
	tty bool
}

// NewProgress reports to w; fd is w's descriptor, to tell a terminal.
func NewProgress(w io.Writer, fd int) *Progress {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return &Progress{w: w, tty: err == nil}
}

// Bar is one layer's line.
type Bar struct {
	p      *Progress
	label  string
	total  int64
	n      int64
	drawn  time.Time
	header bool
}

// Layer starts the report of layer i of n.
func (p *Progress) Layer(i, n int, diffID string, desc *v1.Descriptor) *Bar {
	b := &Bar{p: p, label: fmt.Sprintf("layer %d/%d %s", i, n, short(diffID))}
	if desc != nil {
		b.total = desc.Size
	}
	return b
}

// Add counts n more bytes read.
func (b *Bar) Add(n int) {
	if b == nil || b.p == nil {
		return
	}
	b.n += int64(n)
	if !b.p.tty {
		if !b.header {
			b.header = true
			if b.total > 0 {
				fmt.Fprintf(b.p.w, "%s: pulling %s\n", b.label, size(b.total))
			} else {
				fmt.Fprintf(b.p.w, "%s: pulling\n", b.label)
			}
		}
		return
	}
	if now := time.Now(); now.Sub(b.drawn) > 100*time.Millisecond {
		b.drawn = now
		fmt.Fprintf(b.p.w, "\r\033[K%s", b.line())
	}
}

func (b *Bar) line() string {
	if b.total <= 0 {
		return fmt.Sprintf("%s %s", b.label, size(b.n))
	}
	const width = 30
	done := int(int64(width) * min(b.n, b.total) / b.total)
	return fmt.Sprintf("%s [%s%s] %s / %s", b.label, strings.Repeat("=", done), strings.Repeat(" ", width-done), size(b.n), size(b.total))
}

// Done ends the layer's report with what happened to it.
func (b *Bar) Done(what string) {
	if b == nil || b.p == nil {
		return
	}
	if b.p.tty {
		fmt.Fprintf(b.p.w, "\r\033[K%s: %s\n", b.label, what)
		return
	}
	fmt.Fprintf(b.p.w, "%s: %s\n", b.label, what)
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// counter feeds a bar with the bytes read through it.
type counter struct {
	r   io.Reader
	bar *Bar
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.Add(n)
	return n, err
}
