package poller

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/starling-ws/starling/internal/bufpool"
)

// The write path. Every method takes wmu for its whole duration, so all
// writes to one socket, the queue and the state are serialised; wmu is a
// leaf lock (nothing else is taken under it, no handler is called under it).
// Bytes reach the kernel directly when nothing is queued; otherwise they are
// appended to the queue (by reference, or as a pooled copy for WriteCopy) and
// the queue is flushed from onWritable, in order, when pollfd reports
// EPOLLOUT. The descriptor is never closed here (see conn.go).

// iovMax bounds one writev; the iovec scratch is a fixed array on the stack.
const iovMax = 16

// Write sends b, which the caller promises never to modify again: if the
// socket would block, b is queued by reference. It never blocks. Errors:
// ErrClosed, ErrOverflow.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	err := c.write(b, false)
	c.wmu.Unlock()
	return err
}

// WriteCopy sends b, copying it (into a pooled buffer) only if it must be
// queued, so the caller may reuse b as soon as it returns.
func (c *Conn) WriteCopy(b []byte) error {
	c.wmu.Lock()
	err := c.write(b, true)
	c.wmu.Unlock()
	return err
}

func (c *Conn) write(b []byte, copyIt bool) error {
	if c.state != stOpen {
		return c.refusal()
	}
	if len(b) == 0 {
		return nil
	}
	started := false // part of b is on the wire
	if len(c.q) == 0 {
		n, errno := sysWrite(c.fd, b)
		if n > 0 {
			c.st.bytesOut.Add(int(c.fd), int64(n))
			b = b[n:]
			started = true
		}
		if len(b) == 0 {
			return nil
		}
		if errno != 0 && errno != unix.EAGAIN {
			c.fail()
			return ErrClosed
		}
	}
	// The bound applies to what would be waiting, not to what the kernel
	// already took.
	if int(c.queued)+len(b) > int(c.maxOut) {
		var partial []byte
		if started {
			partial = b
		}
		c.overflow(partial, copyIt)
		return ErrOverflow
	}
	c.push(b, copyIt)
	if started {
		c.wflags |= fHeadCut
	}
	c.st.wouldBlock.Add(int(c.fd), 1)
	return c.arm()
}

// Writev is Write for several shared slices, sent with one writev(2) when
// possible.
func (c *Conn) Writev(bs [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state != stOpen {
		return c.refusal()
	}
	i, off := 0, 0 // first unsent byte: bs[i][off:]
	if len(c.q) == 0 {
		var iov [iovMax]unix.Iovec
		for i < len(bs) {
			k, want := 0, 0
			for j := i; j < len(bs) && k < iovMax; j++ {
				p := bs[j]
				if j == i {
					p = p[off:]
				}
				if len(p) == 0 {
					continue
				}
				iov[k].Base = &p[0]
				iov[k].SetLen(len(p))
				k++
				want += len(p)
			}
			if k == 0 {
				return nil // only empty slices left
			}
			n, errno := sysWritev(c.fd, iov[:k])
			if n > 0 {
				c.st.bytesOut.Add(int(c.fd), int64(n))
				i, off = advance(bs, i, off, n)
			}
			if errno != 0 && errno != unix.EAGAIN {
				c.fail()
				return ErrClosed
			}
			if n < want {
				break // the socket is full (or we were interrupted): queue the rest
			}
		}
		if i == len(bs) {
			return nil
		}
	}
	rest := -off
	for _, p := range bs[i:] {
		rest += len(p)
	}
	if rest == 0 {
		return nil
	}
	if int(c.queued)+rest > int(c.maxOut) {
		var partial []byte
		if off > 0 {
			partial = bs[i][off:]
		}
		c.overflow(partial, false)
		return ErrOverflow
	}
	if off > 0 && len(c.q) == 0 {
		c.wflags |= fHeadCut
	}
	for j := i; j < len(bs); j++ {
		p := bs[j]
		if j == i {
			p = p[off:]
		}
		if len(p) > 0 {
			c.push(p, false)
		}
	}
	c.st.wouldBlock.Add(int(c.fd), 1)
	return c.arm()
}

// advance moves the cursor (i, off) over bs by n written bytes, skipping
// slices that end up fully sent.
func advance(bs [][]byte, i, off, n int) (int, int) {
	for i < len(bs) {
		r := len(bs[i]) - off
		if n < r {
			return i, off + n
		}
		n -= r
		i, off = i+1, 0
	}
	return i, 0
}

// CloseAfter queues last (shared bytes, exempt from the bound) after what is
// already queued, then half-closes the connection (shutdown SHUT_WR) once
// everything is written. Later writes report ErrClosed. The connection is
// fully closed when the peer closes its side or when Close is called.
func (c *Conn) CloseAfter(last []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state != stOpen && c.state != stOverflowed {
		return
	}
	c.state = stClosing
	if len(c.q) == 0 {
		if len(last) > 0 {
			n, errno := sysWrite(c.fd, last)
			if n > 0 {
				c.st.bytesOut.Add(int(c.fd), int64(n))
				last = last[n:]
			}
			if errno != 0 && errno != unix.EAGAIN {
				c.fail()
				return
			}
		}
		if len(last) == 0 {
			c.halfClose()
			return
		}
	}
	if len(last) > 0 {
		c.push(last, false)
		c.st.wouldBlock.Add(int(c.fd), 1)
	}
	_ = c.arm()
}

// Close closes the connection now, dropping anything queued. Safe from any
// goroutine, any number of times; OnClose follows once, from the engine.
func (c *Conn) Close() {
	c.wmu.Lock()
	if c.state < stShut {
		c.fail()
	}
	c.wmu.Unlock()
}

// onWritable flushes the queue after EPOLLOUT; on empty it disarms, and if
// CloseAfter was asked it half-closes.
func (c *Conn) onWritable() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wflags&fRegistered == 0 {
		c.wflags &^= fArmed // EPOLLONESHOT: the interest is spent
	}
	if c.state >= stShut {
		return
	}
	for len(c.q) > 0 {
		var iov [iovMax]unix.Iovec
		k, want := 0, 0
		for j := 0; j < len(c.q) && k < iovMax; j++ {
			p := c.q[j].b
			if j == 0 {
				p = p[c.off:]
			}
			iov[k].Base = &p[0]
			iov[k].SetLen(len(p))
			k++
			want += len(p)
		}
		n, errno := sysWritev(c.fd, iov[:k])
		if n > 0 {
			c.st.bytesOut.Add(int(c.fd), int64(n))
			c.consume(n)
		}
		if errno != 0 && errno != unix.EAGAIN {
			c.fail()
			return
		}
		if n < want {
			break
		}
	}
	if len(c.q) > 0 {
		if err := c.arm(); err != nil {
			return
		}
		return
	}
	c.disarm()
	if c.state == stClosing {
		c.halfClose()
	}
}

// markClosed flips the connection to closed under wmu (so no writer can touch
// fd afterwards), drops the queue and deregisters from pollfd if needed. It
// reports whether this call did it (true exactly once).
func (c *Conn) markClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.state == stClosed {
		return false
	}
	c.dropQueue()
	c.unwatch()
	c.wflags &^= fArmed | fAdded
	c.state = stClosed
	return true
}

// ---- helpers; all called with wmu held ----

// push appends b to the queue, copying it into a pooled buffer if asked.
func (c *Conn) push(b []byte, copyIt bool) {
	e := qent{b: b}
	if copyIt {
		e.b, e.pooled = bufpool.Get(len(b)), true
		copy(e.b, b)
	}
	c.q = append(c.q, e)
	c.queued += int32(len(b))
	c.st.queued.Add(int(c.fd), int64(len(b)))
}

// consume drops n written bytes from the head of the queue.
func (c *Conn) consume(n int) {
	c.queued -= int32(n)
	c.st.queued.Add(int(c.fd), -int64(n))
	for n > 0 {
		h := &c.q[0]
		r := len(h.b) - int(c.off)
		if n < r {
			c.off += int32(n)
			return
		}
		n -= r
		if h.pooled {
			bufpool.Put(h.b)
		}
		*h = qent{}
		c.q = c.q[1:]
		c.off = 0
		c.wflags &^= fHeadCut
	}
	if len(c.q) == 0 {
		c.q = nil // release the backing array: idle connections hold nothing
	}
}

func (c *Conn) dropQueue() {
	for i := range c.q {
		if c.q[i].pooled {
			bufpool.Put(c.q[i].b)
		}
	}
	c.st.queued.Add(int(c.fd), -int64(c.queued))
	c.q, c.off, c.queued = nil, 0, 0
	c.wflags &^= fHeadCut
}

// refusal is the error for a write to a connection that is not open.
func (c *Conn) refusal() error {
	if c.state == stOverflowed {
		return ErrOverflow
	}
	return ErrClosed
}

// overflow drops the queue to release its memory at once, except the
// unsent rest of a slice that is already partly on the wire: the peer's
// stream must stay cut at a slice boundary (for WebSocket, a frame
// boundary) so that what the caller sends next, typically a close frame
// with CloseAfter, arrives intact. partial is that rest when it belongs to
// the slice being written now (the queue was empty).
func (c *Conn) overflow(partial []byte, copyIt bool) {
	if len(c.q) > 0 && (c.off > 0 || c.wflags&fHeadCut != 0) {
		head := c.q[0]
		for i := 1; i < len(c.q); i++ {
			if c.q[i].pooled {
				bufpool.Put(c.q[i].b)
			}
		}
		rest := int32(len(head.b)) - c.off
		c.st.queued.Add(int(c.fd), -int64(c.queued-rest))
		c.q, c.queued = []qent{head}, rest // a fresh array: the old one pinned every dropped slice
	} else {
		c.dropQueue()
		if len(partial) > 0 {
			c.push(partial, copyIt)
			c.wflags |= fHeadCut
		}
	}
	// Refuse all later data: a write that succeeded after dropped ones
	// would hand the peer a stream with a hole in it.
	c.state = stOverflowed
	c.st.overflows.Add(int(c.fd), 1)
	if len(c.q) == 0 {
		c.disarm()
	} else {
		_ = c.arm()
	}
}

// fail shuts the socket down after Close or a write error; the engine sees
// EOF/HUP and finalises. The descriptor stays open until then.
func (c *Conn) fail() {
	c.dropQueue()
	c.disarm()
	c.state = stShut
	_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR)
}

func (c *Conn) halfClose() {
	c.state = stHalfClosed
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil && err != unix.ENOTSOCK {
		c.fail()
	}
}

// sysWrite is write(2) retried on EINTR, returning the raw errno so that the
// hot path never boxes an error.
func sysWrite(fd int32, b []byte) (int, unix.Errno) {
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
}

func sysWritev(fd int32, iov []unix.Iovec) (int, unix.Errno) {
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
}
