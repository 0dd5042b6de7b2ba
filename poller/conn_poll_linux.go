package poller

import "golang.org/x/sys/unix"

// The parts of the write path that talk to epoll (see the rules in
// conn.go). Off Linux there is no engine and pollfd is always -1
// (conn_poll_other.go).

// inEvents is the input interest the epoll engine registers every
// connection with; arming EPOLLOUT on a registered fd keeps it.
const inEvents = unix.EPOLLIN | unix.EPOLLRDHUP

// input is a registered fd's input interest: inEvents, or only EPOLLRDHUP
// while reading is paused (so a peer that goes away is still noticed).
func (c *Conn) input() uint32 {
	if c.wflags&fPaused != 0 {
		return unix.EPOLLRDHUP
	}
	return inEvents
}

// arm asks pollfd for EPOLLOUT on fd (see the rules in conn.go). A failure
// leaves a queue that could never drain, so the connection is failed.
func (c *Conn) arm() error {
	if c.pollfd < 0 || c.wflags&fArmed != 0 {
		return nil
	}
	ev := unix.EpollEvent{Fd: c.fd}
	op := unix.EPOLL_CTL_MOD
	if c.wflags&fRegistered != 0 {
		ev.Events = c.input() | unix.EPOLLOUT
	} else {
		ev.Events = unix.EPOLLOUT | unix.EPOLLONESHOT
		if c.wflags&fAdded == 0 {
			op = unix.EPOLL_CTL_ADD
		}
	}
	if err := unix.EpollCtl(int(c.pollfd), op, int(c.fd), &ev); err != nil {
		c.fail()
		return ErrClosed
	}
	c.wflags |= fArmed | fAdded
	return nil
}

// disarm drops EPOLLOUT from a registered fd's interest. A one-shot
// registration needs nothing: it is spent once it fired.
func (c *Conn) disarm() {
	if c.pollfd < 0 || c.wflags&(fArmed|fRegistered) != fArmed|fRegistered {
		return
	}
	ev := unix.EpollEvent{Events: c.input(), Fd: c.fd}
	_ = unix.EpollCtl(int(c.pollfd), unix.EPOLL_CTL_MOD, int(c.fd), &ev)
	c.wflags &^= fArmed
}

// PauseRead stops reading c until ResumeRead: what the peer sends waits in
// the kernel, and once the socket's receive buffer is full TCP slows the
// peer down (backpressure instead of work per excess message). A peer that
// closes is still noticed. Epoll engine only: on the netpoll engine, which
// reads by itself, and on closed connections it does nothing. Safe from any
// goroutine.
func (c *Conn) PauseRead() { c.setPaused(true) }

// ResumeRead undoes PauseRead; bytes that arrived meanwhile are read at once
// (the interest is level-triggered).
func (c *Conn) ResumeRead() { c.setPaused(false) }

func (c *Conn) setPaused(on bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.pollfd < 0 || c.wflags&fRegistered == 0 || c.state >= stShut || (c.wflags&fPaused != 0) == on {
		return
	}
	if on {
		c.wflags |= fPaused
	} else {
		c.wflags &^= fPaused
	}
	ev := unix.EpollEvent{Events: c.input(), Fd: c.fd}
	if c.wflags&fArmed != 0 {
		ev.Events |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(int(c.pollfd), unix.EPOLL_CTL_MOD, int(c.fd), &ev)
}

// Paused reports whether reading is paused (PauseRead).
func (c *Conn) Paused() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.wflags&fPaused != 0
}

// unwatch removes fd from a write-readiness epoll it was ADDed to (the
// netpoll engine's waiter); the epoll engine's loop deletes its own.
func (c *Conn) unwatch() {
	if c.wflags&(fRegistered|fAdded) == fAdded && c.pollfd >= 0 {
		_ = unix.EpollCtl(int(c.pollfd), unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
}

// kernelUnsent is the socket's send queue: bytes written but not yet
// acknowledged by the peer (SIOCOUTQ), 0 if it cannot be read.
func kernelUnsent(fd int32) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}
