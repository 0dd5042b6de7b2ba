package poller

import "golang.org/x/sys/unix"

// Teardown of a connection whose peer will not take what it is owed.
//
// A close (Close, CloseAfter) ends the stream with a FIN queued behind the
// unsent bytes. A peer that never reads never takes them, so the kernel
// keeps the socket in FIN-WAIT-1 with its whole send buffer (megabytes)
// for as long as the peer stays connected. Abort ends it with a reset
// instead: the kernel sends RST and frees the send buffer when the engine
// closes the descriptor.

// Abort resets the connection: SO_LINGER {on, 0} makes the engine's close(2)
// send RST and free the kernel's send buffer at once, and shutdown(SHUT_RD)
// makes the engine see the end of input and close (OnClose follows as for
// any close). Whatever is queued is dropped and later writes report
// ErrClosed. Safe from any goroutine, any number of times, also after
// Close or CloseAfter (typically when their grace has expired with bytes
// still unsent, see Unsent); counted once in Stats.Resets.
func (c *Conn) Abort() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state == stClosed || c.wflags&fAborted != 0 {
		return // closed: the descriptor may no longer be ours
	}
	c.wflags |= fAborted
	l := unix.Linger{Onoff: 1, Linger: 0}
	_ = unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &l)
	if c.state < stShut {
		c.dropQueue()
		c.disarm()
		c.state = stShut
	}
	// SHUT_RD, not SHUT_RDWR: a FIN would only queue behind the unsent
	// bytes; reading EOF is what the engine needs to close.
	_ = unix.Shutdown(int(c.fd), unix.SHUT_RD)
	c.st.resets.Add(int(c.fd), 1)
}

// Unsent is the number of bytes the peer has not acknowledged yet: those
// waiting in c's queue plus the kernel's send queue (SIOCOUTQ, sent but
// unacknowledged or not yet sent). It costs one ioctl(2) under c's write
// lock. 0 once the engine has closed c. (Off Linux, the queue only.)
func (c *Conn) Unsent() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state == stClosed {
		return 0
	}
	return int(c.queued) + kernelUnsent(c.fd)
}
