// Package dbus is a small D-Bus client: enough to call systemd's manager
// on its private peer-to-peer socket (no bus daemon, no Hello). It is
// berth's own, not godbus/dbus + go-systemd: those add 0.9 MB to a binary
// that every container start maps (docs/performance.md). It uses no net
// package: the socket is a raw AF_UNIX stream from golang.org/x/sys/unix.
//
// The protocol, as berth speaks it:
//
//	client                                 server
//	"\0AUTH EXTERNAL <uid in hex>\r\n" ->
//	                                   <-  "OK <guid>\r\n"
//	"BEGIN\r\n"                        ->
//	method call (serial n)             ->
//	                                   <-  signals (skipped, or handed to Conn.Signal)
//	                                   <-  method return or error (reply serial n)
//
// A message is a header "yyyyuua(yv)" (endianness 'l', type, flags,
// version 1, body length, serial, header fields), padded to 8, then the
// body (wire.go).
package dbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Message types.
const (
	typeCall   = 1
	typeReturn = 2
	typeError  = 3
	typeSignal = 4
)

// Header field codes.
const (
	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSignature   = 8
)

const maxMessage = 64 << 20

// Error is a D-Bus error reply.
type Error struct {
	Name, Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Conn is a connection to one peer. It is not safe for concurrent use.
type Conn struct {
	fd     int
	serial uint32
	// Dest is the destination of the calls ("" for none).
	Dest string
	// Signal, when set, sees every signal that arrives while Call or Wait
	// reads.
	Signal func(member string, body []any)
	in     []byte // read but not yet parsed
}

// Dial connects to the unix socket path and authenticates as the caller's
// effective uid.
func Dial(path string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &Conn{fd: fd}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err == nil {
		err = c.auth()
	} else {
		err = &os.PathError{Op: "connect", Path: path, Err: err}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return unix.Close(c.fd) }

func (c *Conn) auth() error {
	uid := strconv.Itoa(os.Geteuid())
	if err := c.write([]byte(fmt.Sprintf("\x00AUTH EXTERNAL %x\r\n", uid))); err != nil {
		return err
	}
	line, err := c.readLine(time.Now().Add(5 * time.Second))
	if err != nil {
		return fmt.Errorf("dbus auth: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("OK ")) {
		return fmt.Errorf("dbus auth: refused: %q", line)
	}
	return c.write([]byte("BEGIN\r\n"))
}

func (c *Conn) readLine(deadline time.Time) ([]byte, error) {
	for {
		if i := bytes.Index(c.in, []byte("\r\n")); i >= 0 {
			line := c.in[:i]
			c.in = c.in[i+2:]
			return line, nil
		}
		if len(c.in) > 4096 {
			return nil, errors.New("line too long")
		}
		if err := c.fill(deadline); err != nil {
			return nil, err
		}
	}
}

func (c *Conn) write(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("dbus write", err)
		}
		b = b[n:]
	}
	return nil
}

// ErrTimeout is a reply or a wait that took too long.
var ErrTimeout = errors.New("dbus: timed out")

// fill reads what the peer sent into c.in, waiting until deadline.
func (c *Conn) fill(deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return ErrTimeout
	}
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
	if err == unix.EINTR || err == nil && n == 0 {
		return nil // try again: the deadline decides
	}
	if err != nil {
		return os.NewSyscallError("poll", err)
	}
	buf := make([]byte, 4096)
	n, err = unix.Read(c.fd, buf)
	if err == unix.EINTR || err == unix.EAGAIN {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("dbus read", err)
	}
	if n == 0 {
		return errors.New("dbus: connection closed by the peer")
	}
	c.in = append(c.in, buf[:n]...)
	return nil
}

// message is one D-Bus message.
type message struct {
	typ    byte
	serial uint32
	fields map[byte]any
	body   []any
}

// marshalCall encodes a method call.
func marshalCall(serial uint32, dest string, path ObjectPath, iface, member, sig string, args ...any) ([]byte, error) {
	var body encoder
	if err := body.values(sig, args...); err != nil {
		return nil, err
	}
	type field struct {
		Code byte
		V    Variant
	}
	fields := []field{{fieldPath, Variant{"o", path}}, {fieldMember, Variant{"s", member}}}
	if iface != "" {
		fields = append(fields, field{fieldInterface, Variant{"s", iface}})
	}
	if dest != "" {
		fields = append(fields, field{fieldDestination, Variant{"s", dest}})
	}
	if sig != "" {
		fields = append(fields, field{fieldSignature, Variant{"g", Signature(sig)}})
	}
	var e encoder
	if err := e.values("yyyyuua(yv)", byte('l'), byte(typeCall), byte(0), byte(1), uint32(len(body.b)), serial, fields); err != nil {
		return nil, err
	}
	e.align(8)
	return append(e.b, body.b...), nil
}

// parse decodes one message from b, reporting how many bytes it took, or
// 0 if b does not hold all of it yet.
func parse(b []byte) (*message, int, error) {
	if len(b) < 16 {
		return nil, 0, nil
	}
	if b[0] != 'l' {
		return nil, 0, fmt.Errorf("dbus: big-endian message from the peer")
	}
	bodyLen := int(binary.LittleEndian.Uint32(b[4:]))
	fieldsLen := int(binary.LittleEndian.Uint32(b[12:]))
	if bodyLen > maxMessage || fieldsLen > maxMessage {
		return nil, 0, fmt.Errorf("dbus: message too large")
	}
	hdrLen := (16 + fieldsLen + 7) &^ 7
	if len(b) < hdrLen+bodyLen {
		return nil, 0, nil
	}
	d := &decoder{b: b[:hdrLen]}
	hdr, err := d.values("yyyyuua(yv)")
	if err != nil {
		return nil, 0, err
	}
	m := &message{typ: hdr[1].(byte), serial: hdr[5].(uint32), fields: map[byte]any{}}
	for _, f := range hdr[6].([]any) {
		f := f.([]any)
		m.fields[f[0].(byte)] = f[1].(Variant).Value
	}
	sig, _ := m.fields[fieldSignature].(Signature)
	body := &decoder{b: b[hdrLen : hdrLen+bodyLen]}
	if m.body, err = body.values(string(sig)); err != nil {
		return nil, 0, err
	}
	return m, hdrLen + bodyLen, nil
}

// next returns the next message, waiting until deadline.
func (c *Conn) next(deadline time.Time) (*message, error) {
	for {
		m, n, err := parse(c.in)
		if err != nil {
			return nil, err
		}
		if m != nil {
			c.in = c.in[n:]
			return m, nil
		}
		if err := c.fill(deadline); err != nil {
			return nil, err
		}
	}
}

// Timeout bounds a call's wait for its reply.
var Timeout = 25 * time.Second

// Call calls iface.member on the object path of c.Dest with args of
// signature sig, and returns the reply's body. An error reply is an *Error.
func (c *Conn) Call(path ObjectPath, iface, member, sig string, args ...any) ([]any, error) {
	c.serial++
	msg, err := marshalCall(c.serial, c.Dest, path, iface, member, sig, args...)
	if err != nil {
		return nil, err
	}
	if err := c.write(msg); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(Timeout)
	for {
		m, err := c.next(deadline)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		c.dispatch(m)
		if r, _ := m.fields[fieldReplySerial].(uint32); r != c.serial {
			continue
		}
		switch m.typ {
		case typeReturn:
			return m.body, nil
		case typeError:
			e := &Error{}
			e.Name, _ = m.fields[fieldErrorName].(string)
			if len(m.body) > 0 {
				e.Message, _ = m.body[0].(string)
			}
			return nil, e
		}
	}
}

func (c *Conn) dispatch(m *message) {
	if m.typ == typeSignal && c.Signal != nil {
		member, _ := m.fields[fieldMember].(string)
		c.Signal(member, m.body)
	}
}

// Wait reads signals until done reports true or timeout passes.
func (c *Conn) Wait(timeout time.Duration, done func() bool) error {
	deadline := time.Now().Add(timeout)
	for !done() {
		m, err := c.next(deadline)
		if err != nil {
			return err
		}
		c.dispatch(m)
	}
	return nil
}
