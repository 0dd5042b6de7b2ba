//go:build linux

package poller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// npListener is the listening socket handed to netpoll's EventLoop. It
// implements netpoll.Listener itself instead of using netpoll.CreateListener
// because netpoll's listener (net_listener.go, v0.7.2):
//   - takes its descriptor from net.TCPListener.File() and closes it twice on
//     Close (syscall.Close(ln.fd), then ln.file.Close() on the same number):
//     the second close can hit a descriptor another goroutine opened in
//     between, breaking the rule that only the engine releases a socket's
//     number and only after every writer has seen it closed;
//   - cannot honour Config.Backlog (net.Listen always uses somaxconn);
//   - accepts without SOCK_CLOEXEC.
//
// Accept follows netpoll's listener protocol: (nil, nil) means EAGAIN.
type npListener struct {
	fd      int
	addr    *net.TCPAddr
	stopped atomic.Bool // shutdown: accept nothing more, whatever accept4 says
	closed  atomic.Bool
}

// listenTCP binds addr ("host:port", host may be empty for every address)
// with the given backlog. A wildcard host binds a dual-stack IPv6 socket when
// the kernel allows it, like net.Listen does.
func listenTCP(addr string, backlog, sndbuf int) (*npListener, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netpoll listen %q: %w", addr, err)
	}
	var fd int
	switch {
	case ta.IP == nil || ta.IP.IsUnspecified() && ta.IP.To4() == nil:
		fd, err = listenFamily(unix.AF_INET6, &unix.SockaddrInet6{Port: ta.Port}, backlog, sndbuf, true)
		if err != nil {
			// no IPv6 on this host: fall back to every IPv4 address
			fd, err = listenFamily(unix.AF_INET, &unix.SockaddrInet4{Port: ta.Port}, backlog, sndbuf, false)
		}
	case ta.IP.To4() != nil:
		sa := &unix.SockaddrInet4{Port: ta.Port}
		copy(sa.Addr[:], ta.IP.To4())
		fd, err = listenFamily(unix.AF_INET, sa, backlog, sndbuf, false)
	default:
		sa := &unix.SockaddrInet6{Port: ta.Port}
		copy(sa.Addr[:], ta.IP.To16())
		fd, err = listenFamily(unix.AF_INET6, sa, backlog, sndbuf, false)
	}
	if err != nil {
		return nil, fmt.Errorf("netpoll listen %q: %w", addr, err)
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netpoll listen %q: getsockname: %w", addr, err)
	}
	return &npListener{fd: fd, addr: sockaddrTCP(lsa)}, nil
}

func listenFamily(family int, sa unix.Sockaddr, backlog, sndbuf int, dual bool) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if dual {
		if err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if err = setSendBuffer(fd, sndbuf); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_SNDBUF", err)
	}
	if err = unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err = unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// sockaddrTCP converts a socket address; nil for anything but TCP/IP.
func sockaddrTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]).To4(), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		return &net.TCPAddr{IP: ip, Port: a.Port}
	}
	return nil
}

// Accept is called by netpoll's poller goroutine when the listener is
// readable (and by its EMFILE retry goroutine).
//
// Once the listener is shut down Accept reports "nothing to accept" whatever
// accept4 returns. accept4 on a shut-down listener says EINVAL only once it
// can allocate a descriptor, so with descriptors exhausted it keeps saying
// EMFILE; netpoll answers EMFILE by detaching the listener and retrying in
// a goroutine of its own that never stops on an error. (nil, nil) ends that
// goroutine (it re-attaches the listener and returns), and the shut-down
// socket's EPOLLHUP then ends the event loop's Serve. Once the descriptor is
// released (Close) the answer is net.ErrClosed, never (nil, nil), so that
// goroutine cannot re-attach a number that may have been reused; Close
// releases it only after Serve has ended or npShutdownWait has passed, and
// the goroutine retries at least once a second.
func (l *npListener) Accept() (net.Conn, error) {
	if l.closed.Load() {
		return nil, net.ErrClosed
	}
	if l.stopped.Load() {
		return nil, nil
	}
	fd, sa, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR || err == unix.ECONNABORTED {
			return nil, nil
		}
		if l.closed.Load() {
			// netpoll's server stops its accept loop on an error whose text
			// says "closed".
			return nil, net.ErrClosed
		}
		if err == unix.EMFILE || err == unix.ENFILE {
			// Bare: netpoll recognises running out of descriptors only by
			// a syscall.Errno, and then detaches the listener and retries
			// with back-off. Wrapped, it would retry at once, forever: the
			// level-triggered listener stays readable (measured: 500k
			// failed accepts and log lines a second, 0.8 of a core).
			return nil, err
		}
		return nil, os.NewSyscallError("accept4", err)
	}
	// A WebSocket server sends small frames that must not wait for an ACK.
	// netpoll only sets TCP_NODELAY for connections it knows are TCP, and a
	// netpoll.Conn that is not its own netFD has no network name.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return &npAccepted{fd: fd, laddr: l.addr, raddr: sockaddrTCP(sa)}, nil
}

// shutdown stops the socket listening (queued, unaccepted connections are
// reset) without releasing its number: the poller sees EPOLLHUP, detaches it
// and ends the event loop's Serve.
func (l *npListener) shutdown() error {
	l.stopped.Store(true)
	if err := unix.Shutdown(l.fd, unix.SHUT_RD); err != nil && err != unix.ENOTCONN {
		return os.NewSyscallError("shutdown listener", err)
	}
	return nil
}

// Close releases the descriptor once. netpoll calls it from
// EventLoop.Shutdown after detaching the listener from its poller.
func (l *npListener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	_ = l.shutdown()
	return os.NewSyscallError("close listener", unix.Close(l.fd))
}

func (l *npListener) Addr() net.Addr { return l.addr }

func (l *npListener) Fd() int { return l.fd }

// npAccepted carries an accepted descriptor to netpoll, which copies fd and
// the addresses into its own connection (connection.initNetFD) and from then
// on owns the descriptor: its close callback chain ends with close(2). This
// value is dropped right after, so its I/O methods are never used.
type npAccepted struct {
	fd           int
	laddr, raddr net.Addr
}

var errNotOwned = errors.New("poller: accepted descriptor is owned by netpoll")

func (a *npAccepted) Fd() int                          { return a.fd }
func (a *npAccepted) Read([]byte) (int, error)         { return 0, errNotOwned }
func (a *npAccepted) Write([]byte) (int, error)        { return 0, errNotOwned }
func (a *npAccepted) Close() error                     { return errNotOwned }
func (a *npAccepted) LocalAddr() net.Addr              { return a.laddr }
func (a *npAccepted) RemoteAddr() net.Addr             { return a.raddr }
func (a *npAccepted) SetDeadline(time.Time) error      { return errNotOwned }
func (a *npAccepted) SetReadDeadline(time.Time) error  { return errNotOwned }
func (a *npAccepted) SetWriteDeadline(time.Time) error { return errNotOwned }
