//go:build linux

package poller

import (
	"os"

	"golang.org/x/sys/unix"
)

// Socket options the engines (and the dial path) share.

// reuseAddrSocket opens a close-on-exec TCP socket (typ adds flags such as
// SOCK_NONBLOCK) with SO_REUSEADDR set.
func reuseAddrSocket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|typ, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	return fd, nil
}

// setNoDelay: frames are written whole, so Nagle only adds latency. Failure
// (e.g. a socket already reset) surfaces on the first read or write.
func setNoDelay(fd int) {
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// setSendBuffer applies Config.SendBuffer (0: leave the kernel's default
// and its autotuning). It is set on the listening socket, before listen(2):
// every socket accepted from it inherits the size (tcp(7) asks for buffer
// sizes to be set before listen or connect), which spares a setsockopt per
// accepted connection; TestSendBufferApplied reads it back from accepted
// sockets.
func setSendBuffer(fd, n int) error {
	if n <= 0 {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
}
