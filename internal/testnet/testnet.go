// Package testnet gives tests loopback TCP ports that stay theirs until the
// test ends, for servers the tests start themselves (Caddy in the test
// process or as a child, redis-server, nginx, a simulator).
//
// Asking the kernel for a free port and closing the socket at once leaves a
// window in which any other process on the machine can take it, most often
// as the local port of an outgoing connection; under load the server the
// test starts next then fails with "bind: address already in use". Port
// closes that window by keeping the port bound, but not listening, until the
// test ends.
package testnet

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Port returns a TCP port on 127.0.0.1 that the kernel picked, and keeps it
// reserved for t until t ends.
//
// The reservation is a socket bound to the port with SO_REUSEADDR and
// SO_REUSEPORT that never listens. Linux lets a server that sets
// SO_REUSEADDR (Go's net.Listen, Caddy, redis-server, nginx, php-fpm do) or
// SO_REUSEPORT bind and listen beside it, but will not hand the port to
// anything else: not as another socket's kernel-picked port, not as an
// outgoing connection's local port, not to a bind without those options.
// A socket that does not listen accepts nothing, so connections reach only
// the server, and a connection to the port before the server binds it (or
// after it stopped) is refused as on a free port. The port stays reserved
// while the test stops and restarts its server on it.
func Port(t testing.TB) int {
	t.Helper()
	port, closeFn, err := reserve()
	if err != nil {
		t.Fatalf("testnet: reserving a loopback port: %v", err)
	}
	t.Cleanup(closeFn)
	return port
}

func reserve() (port int, closeFn func(), err error) {
	// A child process must not inherit the reservation: close-on-exec is
	// set under ForkLock, as package net does where sockets cannot be
	// created with it.
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return 0, nil, err
	}
	closeFn = func() { _ = unix.Close(fd) }
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			closeFn()
			return 0, nil, err
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		closeFn()
		return 0, nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		closeFn()
		return 0, nil, err
	}
	return sa.(*unix.SockaddrInet4).Port, closeFn, nil
}
