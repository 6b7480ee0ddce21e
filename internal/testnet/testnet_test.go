package testnet

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPortIsTheServersAndNobodyElses: while the test holds the port, a bind
// without SO_REUSEADDR (anything but a server the test starts) is refused;
// a server (net.Listen sets SO_REUSEADDR) binds it, gets every connection,
// and can stop and bind it again; with no server a connection is refused.
// Closing the port at once instead (the old freePort) fails the first check.
func TestPortIsTheServersAndNobodyElses(t *testing.T) {
	port := Port(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	if err := plainBind(port); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("a bind without SO_REUSEADDR to the reserved port: %v, want EADDRINUSE", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a connection to the reserved port was accepted before any server listened")
	}
	for round := range 2 { // a server that stops and starts again keeps its port
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("round %d: the server cannot bind its reserved port: %v", round, err)
		}
		for i := range 20 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("round %d, connection %d: %v", round, i, err)
			}
			s, err := l.Accept()
			if err != nil {
				t.Fatalf("round %d, connection %d: the server did not get it: %v", round, i, err)
			}
			s.Close()
			c.Close()
		}
		l.Close()
	}
}

// TestPortsAreDistinct: the kernel never picks a reserved port again.
func TestPortsAreDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p := Port(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice while reserved", p)
		}
		seen[p] = true
	}
}

func plainBind(port int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
}
