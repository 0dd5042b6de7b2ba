package poller

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Dial connects to addr (from local address laddr, "" for any) without
// blocking a goroutine per connection and registers the socket with one of
// the engine's loops; h gets OnOpen once connected (used by the bench's
// client workers). Only the epoll engine dials. The engine must have been
// started with Start (dial-only) or Serve.
//
// An error is returned for what fails at once (resolution, socket, bind, an
// immediate connect error); a connect that fails later is reported by
// OnClose(c, err) without a preceding OnOpen. A laddr with port 0 sets
// IP_BIND_ADDRESS_NO_PORT so the port is chosen per destination at connect
// time, which lets many connections share one source address.
func (e *Epoll) Dial(addr, laddr string) error {
	// The read lock keeps Close from stopping the loops between the check
	// and the hand-off, so a handed-over socket is always finalised.
	e.mu.RLock()
	defer e.mu.RUnlock()
	if !e.started || e.closed {
		return errors.New("poller: epoll: Dial needs a started, open engine")
	}
	fd, err := dialFd(addr, laddr)
	if err != nil {
		return fmt.Errorf("poller: epoll: dial %s: %w", addr, err)
	}
	e.pick().push(pend{fd: int32(fd), dial: true})
	return nil
}

func dialFd(addr, laddr string) (int, error) {
	rsa, family, err := resolveSockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if laddr != "" {
		lsa, lfamily, err := resolveSockaddr(laddr)
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		if lfamily != family {
			return fail("bind", unix.EAFNOSUPPORT)
		}
		if a, ok := lsa.(*unix.SockaddrInet4); ok && a.Port == 0 {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		}
		if err := unix.Bind(fd, lsa); err != nil {
			return fail("bind", err)
		}
	}
	setNoDelay(fd)
	for {
		err = unix.Connect(fd, rsa)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil && err != unix.EINPROGRESS {
		return fail("connect", err)
	}
	return fd, nil
}

// onConnected handles the first readiness of a dialling socket (registered
// with EPOLLOUT by addConn): connected => input interest only, then OnOpen;
// failed => finalise (OnClose without OnOpen).
func (l *eloop) onConnected(c *Conn, events uint32) {
	fd := int(c.fd)
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
		if err == nil {
			err = unix.Errno(v)
		}
		l.finalise(c, os.NewSyscallError("connect", err))
		return
	}
	if events&unix.EPOLLOUT == 0 {
		if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.finalise(c, sockError(fd, "connect"))
		}
		return
	}
	ev := unix.EpollEvent{Events: inEvents, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		l.finalise(c, os.NewSyscallError("epoll_ctl", err))
		return
	}
	c.lflags &^= lfConnecting
	l.e.h.OnOpen(c)
}
