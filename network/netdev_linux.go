package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linux.netDevices (runtime-spec 1.3): host interfaces moved into the
// container's network namespace, renamed there, and moved back (under
// their host names) when the container is deleted.

// CheckDevices refuses, before anything exists, what cannot be moved: a
// host interface that is not there, or a name that is not one.
func CheckDevices(devs map[string]string) error {
	for host, name := range devs {
		if err := checkIfName(name); err != nil {
			return fmt.Errorf("linux.netDevices[%q].name: %w", host, err)
		}
		if _, err := ifIndex(-1, host); err != nil {
			return fmt.Errorf("linux.netDevices[%q]: no such host interface: %w", host, err)
		}
	}
	return nil
}

func checkIfName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("%q is not an interface name (1-15 characters, no '/', ':' or space)", name)
	}
	return nil
}

// MoveDevices moves each host interface into netns under its container
// name. On error those already moved are moved back.
func MoveDevices(devs map[string]string, netns *os.File) error {
	var moved []string
	for host, name := range devs {
		idx, err := ifIndex(-1, host)
		if err == nil {
			err = linkRequestOn(-1, unix.RTM_NEWLINK, 0, idx, u32Attr(unix.IFLA_NET_NS_FD, uint32(netns.Fd())), strAttr(unix.IFLA_IFNAME, name))
		}
		if err != nil {
			back := map[string]string{}
			for _, h := range moved {
				back[h] = devs[h]
			}
			ReturnDevices(back, netns)
			return fmt.Errorf("linux.netDevices[%q]: move into the container as %s: %w", host, name, err)
		}
		moved = append(moved, host)
	}
	return nil
}

// ReturnDevices moves each device back from netns to this process's
// network namespace under its host name. It goes on past errors.
func ReturnDevices(devs map[string]string, netns *os.File) error {
	if len(devs) == 0 {
		return nil
	}
	self, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	var errs []error
	err = inNetns(netns, func(sock int) error {
		for host, name := range devs {
			idx, err := ifIndex(sock, name)
			if err == nil {
				err = linkRequestOn(sock, unix.RTM_NEWLINK, 0, idx, u32Attr(unix.IFLA_NET_NS_FD, uint32(self.Fd())), strAttr(unix.IFLA_IFNAME, host))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("linux.netDevices[%q]: move %s back: %w", host, name, err))
			}
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// inNetns calls fn with a netlink socket of netns: sockets belong to the
// namespace they were made in, so only their making needs the setns.
func inNetns(netns *os.File, fn func(sock int) error) error {
	sock, err := func() (int, error) {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			return -1, err
		}
		defer self.Close()
		if err := unix.Setns(int(netns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return -1, os.NewSyscallError("setns", err)
		}
		sock, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			return sock, nil // the thread stays locked and dies with its goroutine
		}
		runtime.UnlockOSThread()
		return sock, os.NewSyscallError("socket", serr)
	}()
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	return fn(sock)
}

// ifIndex looks an interface up by name through a netlink socket (-1: the
// calling thread's namespace).
func ifIndex(sock int, name string) (int32, error) {
	if err := checkIfName(name); err != nil {
		return 0, err
	}
	// RTM_GETLINK by name answers with the link; its ifinfomsg holds the index.
	reply, err := linkRequestReply(sock, unix.RTM_GETLINK, 0, 0, strAttr(unix.IFLA_IFNAME, name))
	if err != nil {
		return 0, err
	}
	if len(reply) < unix.SizeofNlMsghdr+unix.SizeofIfInfomsg {
		return 0, errors.New("netlink: short reply")
	}
	info := (*unix.IfInfomsg)(unsafe.Pointer(&reply[unix.SizeofNlMsghdr]))
	return info.Index, nil
}
