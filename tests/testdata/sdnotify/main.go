// sdnotify sends its arguments, one a line, as one datagram to the socket
// named by $NOTIFY_SOCKET: systemd-notify for a busybox rootfs. Built
// statically by tests/notify_test.go.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	addr := &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err == nil {
		_, err = c.Write([]byte(strings.Join(os.Args[1:], "\n")))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
}
