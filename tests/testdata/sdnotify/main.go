// Command sdnotify sends its argument to $NOTIFY_SOCKET, as sd_notify(3)
// does: the functional tests mount it into pods as an app that reports
// its readiness.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sdnotify STATE")
		os.Exit(2)
	}
	name := os.Getenv("NOTIFY_SOCKET")
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
	defer c.Close()
	if _, err := c.Write([]byte(os.Args[1])); err != nil {
		fmt.Fprintln(os.Stderr, "sdnotify:", err)
		os.Exit(1)
	}
}
