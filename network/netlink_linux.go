package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// A few rtnetlink requests, written by hand: a netlink library (or the net
// package) would be mapped by every berth process for these few calls.

// nlAttr is one rtattr.
type nlAttr struct {
	typ  uint16
	data []byte
}

func strAttr(typ uint16, s string) nlAttr { return nlAttr{typ, append([]byte(s), 0)} }

func u32Attr(typ uint16, v uint32) nlAttr {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return nlAttr{typ, b}
}

// linkRequest sends one RTM_*LINK request in the calling thread's network
// namespace and waits for the kernel's ack.
func linkRequest(msgType uint16, flags uint16, index int32, attrs ...nlAttr) error {
	return linkRequestOn(-1, msgType, flags, index, attrs...)
}

// linkRequestOn sends one RTM_*LINK request for the interface with index
// (or, with index 0, the attributes' IFLA_IFNAME) on sock (-1: a socket of
// the calling thread's namespace), and waits for the kernel's ack.
func linkRequestOn(sock int, msgType uint16, flags uint16, index int32, attrs ...nlAttr) error {
	_, err := linkRequestReply(sock, msgType, flags, index, attrs...)
	return err
}

// linkRequestReply is linkRequestOn that returns the kernel's answer (a
// GET's message; nil for an ack).
func linkRequestReply(sock int, msgType uint16, flags uint16, index int32, attrs ...nlAttr) ([]byte, error) {
	fd := sock
	if fd < 0 {
		var err error
		if fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE); err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		defer unix.Close(fd)
	}
	body := make([]byte, unix.SizeofIfInfomsg)
	body[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	for _, a := range attrs {
		l := unix.SizeofRtAttr + len(a.data)
		hdr := make([]byte, unix.SizeofRtAttr)
		binary.NativeEndian.PutUint16(hdr[0:], uint16(l))
		binary.NativeEndian.PutUint16(hdr[2:], a.typ)
		body = append(body, hdr...)
		body = append(body, a.data...)
		for len(body)%unix.NLMSG_ALIGNTO != 0 {
			body = append(body, 0)
		}
	}
	ack := uint16(unix.NLM_F_ACK)
	if msgType == unix.RTM_GETLINK {
		ack = 0
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], msgType)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|ack)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("sendto", err)
	}
	buf := make([]byte, 16384)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return nil, os.NewSyscallError("recvfrom", err)
	}
	if n < unix.SizeofNlMsghdr+4 {
		return nil, errors.New("netlink: short reply")
	}
	if binary.NativeEndian.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return buf[:n], nil
	}
	if code := int32(binary.NativeEndian.Uint32(buf[unix.SizeofNlMsghdr:])); code != 0 {
		return nil, unix.Errno(-code)
	}
	return nil, nil
}

// DeleteLink deletes an interface by name; one that is not there is not an
// error.
func DeleteLink(name string) error {
	err := linkRequest(unix.RTM_DELLINK, 0, 0, strAttr(unix.IFLA_IFNAME, name))
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}
