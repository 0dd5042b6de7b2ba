//go:build linux

package poller

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Listener descriptors are closed only by StopAccepting, after everyone
// accepting on them has let go (lnWG), so a shutdown(2) aimed at a listener
// can never hit a reused descriptor number.

// listen opens the listener(s) for the configured accept mode and, for
// acceptReusePort, registers one in each loop's epoll. Called with e.mu held.
func (e *Epoll) listen() error {
	sa, family, err := resolveSockaddr(e.cfg.Addr)
	if err != nil {
		return fmt.Errorf("poller: epoll: listen %q: %w", e.cfg.Addr, err)
	}
	reuse := e.mode == acceptReusePort
	n := 1
	if reuse {
		n = len(e.loops)
	}
	for i := 0; i < n; i++ {
		fd, err := listenFd(family, sa, reuse, e.cfg.Backlog, e.cfg.SendBuffer)
		if err != nil {
			return fmt.Errorf("poller: epoll: listen %q: %w", e.cfg.Addr, err)
		}
		e.lnfds = append(e.lnfds, fd)
		if i == 0 {
			// With port 0 the first bind picks the port; the others join it.
			bound, err := unix.Getsockname(fd)
			if err != nil {
				return fmt.Errorf("poller: epoll: getsockname: %w", err)
			}
			e.addr = sockaddrToTCP(bound)
			sa = bound
		}
	}
	if reuse {
		for i, l := range e.loops {
			l.lnfd = e.lnfds[i]
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.lnfd)}
			if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.lnfd, &ev); err != nil {
				for _, l := range e.loops {
					l.lnfd = -1
				}
				return fmt.Errorf("poller: epoll: register listener: %w", err)
			}
		}
		e.lnWG.Add(len(e.loops))
	}
	return nil
}

func listenFd(family int, sa unix.Sockaddr, reusePort bool, backlog, sndbuf int) (int, error) {
	typ := 0
	if reusePort {
		typ = unix.SOCK_NONBLOCK // accepted from the loop on readiness
	} // else blocking: the acceptor goroutine sleeps in accept4
	fd, err := reuseAddrSocket(family, typ)
	if err != nil {
		return -1, err
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := setSendBuffer(fd, sndbuf); err != nil {
		return fail("setsockopt SO_SNDBUF", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// onAcceptable accepts from the loop's own listener (acceptReusePort). The
// batch is bounded so that one burst of connections cannot starve the
// loop's established connections.
func (l *eloop) onAcceptable(events uint32) {
	if l.e.acceptStop.Load() {
		l.dropListener()
		return
	}
	for i := 0; i < 128; i++ {
		nfd, errno := sysAccept(l.lnfd)
		switch errno {
		case 0:
			setNoDelay(nfd)
			l.addConn(nfd, false)
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Level-triggered: the pending connection would wake us again
			// at once. Step the listener out until a descriptor is freed
			// or 100 ms pass.
			l.e.log.Warn("accept: out of descriptors or memory; pausing", "loop", l.idx, "err", errno)
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lnfd, nil)
			l.lnPaused = true
			return
		default: // EINVAL once StopAccepting shut the listener down
			l.dropListener()
			return
		}
	}
}

func (l *eloop) resumeListener() {
	if l.lnfd < 0 {
		l.lnPaused = false
		return
	}
	if l.e.acceptStop.Load() {
		l.dropListener()
		return
	}
	l.lnPaused = false
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.lnfd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.lnfd, &ev); err != nil {
		l.e.log.Error("accept: cannot resume listener", "loop", l.idx, "err", err)
		l.dropListener()
	}
}

// dropListener stops this loop accepting; StopAccepting closes the fd.
func (l *eloop) dropListener() {
	if l.lnfd < 0 {
		return
	}
	if !l.lnPaused {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lnfd, nil)
	}
	l.lnfd, l.lnPaused = -1, false
	l.e.lnWG.Done()
}

// acceptLoop is the acceptSingle acceptor: blocked in accept4, it hands
// each descriptor to the next loop.
func (e *Epoll) acceptLoop(lnfd int) {
	defer e.lnWG.Done()
	for {
		nfd, errno := sysAccept(lnfd)
		switch errno {
		case 0:
			setNoDelay(nfd)
			e.pick().push(pend{fd: int32(nfd)})
		case unix.EINTR, unix.ECONNABORTED:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			if e.acceptStop.Load() {
				return // shut down: this could repeat for as long as descriptors lack
			}
			e.log.Warn("accept: out of descriptors or memory; pausing", "err", errno)
			time.Sleep(50 * time.Millisecond)
		default: // EINVAL once StopAccepting shut the listener down
			return
		}
	}
}

// sysAccept is accept4 without the peer address (which would allocate).
func sysAccept(fd int) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), 0
}

// resolveSockaddr turns "host:port" into a socket address; an empty host
// means IPv4 any.
func resolveSockaddr(addr string) (unix.Sockaddr, int, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ta.IP == nil || ta.IP.To4() != nil {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		if ta.IP != nil {
			copy(sa.Addr[:], ta.IP.To4())
		}
		return sa, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To16())
	if ta.Zone != "" {
		if ifi, err := net.InterfaceByName(ta.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6, nil
}

func sockaddrToTCP(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return nil
}
