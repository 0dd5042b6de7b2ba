//go:build linux

package poller

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// This file exists for the load generator (bench/loadclient), whose worker
// processes dial tens of thousands of client sockets without a goroutine per
// connection. The server never dials: nothing here is on a server path, and
// the event loops never see a socket before it is connected, so their
// per-event path has no test for dialling.
//
// A dialled socket that is connected when connect(2) returns (loopback,
// nearly always) goes straight to a loop; any other waits for its connect
// to finish in the dialer's own epoll (one goroutine per engine). Either
// way a loop receives it connected, like an accepted socket (OnOpen, then
// the usual path). A connect that
// fails is reported by OnClose(c, err) without a preceding OnOpen, from the
// dialer's goroutine.

// Start runs the loops without a listener, for Dial.
func (e *Epoll) Start(h Handler) error {
	if err := e.start(h, false); err != nil {
		return err
	}
	d, err := newDialer(e)
	if err != nil {
		_ = e.Close()
		return fmt.Errorf("poller: epoll: dialer: %w", err)
	}
	e.mu.Lock()
	e.dialer = d
	e.mu.Unlock()
	go d.run()
	return nil
}

// Dial connects to addr (from local address laddr, "" for any) without
// blocking and hands the socket to one of the engine's loops once it is
// connected; h gets OnOpen then. The engine must have been started with
// Start.
//
// An error is returned for what fails at once (resolution, socket, bind, an
// immediate connect error); a connect that fails later is reported by
// OnClose(c, err) without a preceding OnOpen. A laddr with port 0 sets
// IP_BIND_ADDRESS_NO_PORT so the port is chosen per destination at connect
// time, which lets many connections share one source address.
func (e *Epoll) Dial(addr, laddr string) error {
	// The read lock keeps Close from stopping the dialer between the check
	// and the registration, so every dialled socket is finalised.
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.dialer == nil || e.closed {
		return errors.New("poller: epoll: Dial needs an engine started with Start and not closed")
	}
	fd, err := dialFd(addr, laddr)
	if err != nil {
		return fmt.Errorf("poller: epoll: dial %s: %w", addr, err)
	}
	if connectedNow(fd) {
		e.pick().push(pend{fd: int32(fd), dial: true})
		return nil
	}
	if err := e.dialer.add(fd); err != nil {
		unix.Close(fd)
		return fmt.Errorf("poller: epoll: dial %s: %w", addr, err)
	}
	return nil
}

// connectedNow reports whether a non-blocking connect has already
// completed: over loopback the handshake runs inside connect(2) nearly
// always, and one poll(2) then spares the dialer epoll's two epoll_ctl and
// a hand-over. Failures are left to the dialer, which reports them.
func connectedNow(fd int) bool {
	p := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(p[:], 0)
	return err == nil && n == 1 && p[0].Revents&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) == unix.POLLOUT
}

// dialer is the epoll in which dialled sockets wait for their connect.
type dialer struct {
	e      *Epoll
	epfd   int
	wakefd int
	done   chan struct{}

	mu       sync.Mutex
	inflight map[int32]struct{} // connecting sockets, closed by stop
}

func newDialer(e *Epoll) (*dialer, error) {
	epfd, wfd, err := newEpollWake()
	if err != nil {
		return nil, err
	}
	return &dialer{e: e, epfd: epfd, wakefd: wfd, done: make(chan struct{}), inflight: map[int32]struct{}{}}, nil
}

func (d *dialer) add(fd int) error {
	d.mu.Lock()
	d.inflight[int32(fd)] = struct{}{}
	d.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(fd)}
	if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		d.mu.Lock()
		delete(d.inflight, int32(fd))
		d.mu.Unlock()
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// run waits for connects to finish and hands connected sockets to the
// loops, one batch per epoll_wait.
func (d *dialer) run() {
	defer close(d.done)
	events := make([]unix.EpollEvent, eventsPerWait)
	ready := make([]pend, 0, eventsPerWait)
	for {
		n, err := unix.EpollWait(d.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			d.e.log.Error("dialer: epoll_wait failed; dialer stops", "err", err)
			return
		}
		stop := false
		for i := 0; i < n; i++ {
			fd, evs := int(events[i].Fd), events[i].Events
			if fd == d.wakefd {
				stop = true
				continue
			}
			err := connectResult(fd, evs)
			if err == errNotYet {
				continue
			}
			_ = unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			d.mu.Lock()
			delete(d.inflight, int32(fd))
			d.mu.Unlock()
			if err != nil {
				d.fail(fd, err)
				continue
			}
			ready = append(ready, pend{fd: int32(fd), dial: true})
		}
		for _, p := range ready {
			d.e.pick().push(p)
		}
		ready = ready[:0]
		if stop {
			return
		}
	}
}

var errNotYet = errors.New("connect in progress")

// connectResult reads a connect's outcome from its first readiness.
func connectResult(fd int, events uint32) error {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
		if err == nil {
			err = unix.Errno(v)
		}
		return os.NewSyscallError("connect", err)
	}
	if events&unix.EPOLLOUT == 0 {
		if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			return sockError(fd, "connect")
		}
		return errNotYet
	}
	return nil
}

// fail reports a dial that never opened and releases its descriptor.
func (d *dialer) fail(fd int, err error) {
	c := newConn(fd, -1, false, 0)
	c.markClosed()
	d.e.g.close(c, err)
	unix.Close(fd)
}

// stop ends run, then fails every socket still connecting. The caller
// guarantees no Dial runs any more (Close holds e.mu).
func (d *dialer) stop() {
	one := [8]byte{1}
	_, _ = unix.Write(d.wakefd, one[:])
	<-d.done
	for fd := range d.inflight {
		d.fail(int(fd), ErrClosed)
	}
	d.inflight = nil
	unix.Close(d.wakefd)
	unix.Close(d.epfd)
}

func dialFd(addr, laddr string) (int, error) {
	rsa, family, err := resolveSockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := reuseAddrSocket(family, unix.SOCK_NONBLOCK)
	if err != nil {
		return -1, err
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
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
