//go:build linux

package poller

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// eloop is one event loop. Everything but the hand-off queue (mu, pending)
// and the counters is touched only by the loop's goroutine. The engine's
// fd table (epoll_table.go) is shared, but a slot is written only by the
// loop that owns its connection, and a loop acts only on connections whose
// Conn.loop is its own. A number can move between loops only through
// close(2), which finalise calls after clearing the slot; an epoll batch
// holds at most one event per descriptor, and finalise runs only for the
// event being handled (or at shutdown), so no event of a batch can reach a
// newer connection that reuses the number of one finalised in that batch.
type eloop struct {
	e      *Epoll
	idx    uint8
	epfd   int
	wakefd int // eventfd: hand-offs and stop
	lnfd   int // this loop's SO_REUSEPORT listener, or -1
	buf    []byte
	events []unix.EpollEvent

	lnPaused bool // accept hit EMFILE/ENFILE: listener out of the epoll for a while

	mu      sync.Mutex
	pending []pend
	spare   []pend
	woken   atomic.Bool // a wakeup is in flight: skip redundant eventfd writes

	stopping atomic.Bool

	accepted atomic.Uint64
	open     atomic.Int64
	bytesIn  atomic.Uint64
}

// pend is a connected descriptor handed to a loop from outside it; dial
// marks a dialled one (dial.go), which is owed OnClose even if the loop
// stops before opening it.
type pend struct {
	fd   int32
	dial bool
}

const eventsPerWait = 256

func newLoop(e *Epoll, i int) (*eloop, error) {
	epfd, wfd, err := newEpollWake()
	if err != nil {
		return nil, err
	}
	return &eloop{
		e:      e,
		idx:    uint8(i),
		epfd:   epfd,
		wakefd: wfd,
		lnfd:   -1,
		buf:    make([]byte, e.cfg.ReadBuffer),
		events: make([]unix.EpollEvent, eventsPerWait),
	}, nil
}

// newEpollWake creates an epoll instance with an eventfd registered for
// input, the wakeup every goroutine that waits in epoll_wait here uses.
func newEpollWake() (epfd, wakefd int, err error) {
	epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, -1, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return -1, -1, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return -1, -1, os.NewSyscallError("epoll_ctl", err)
	}
	return epfd, wakefd, nil
}

// closeFds releases the loop's own descriptors (listeners are closed by
// StopAccepting).
func (l *eloop) closeFds() {
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
}

// push hands a descriptor to the loop.
func (l *eloop) push(p pend) {
	l.mu.Lock()
	l.pending = append(l.pending, p)
	l.mu.Unlock()
	l.wake(false)
}

// wake writes the eventfd unless a wakeup is already in flight.
func (l *eloop) wake(force bool) {
	if !l.woken.CompareAndSwap(false, true) && !force {
		return
	}
	one := [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

func (l *eloop) run() {
	defer l.e.loopWG.Done()
	if l.e.lockThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	timeout := -1
	for {
		if l.lnPaused {
			timeout = 100
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			l.e.log.Error("epoll_wait failed; loop stops", "loop", l.idx, "err", err)
			l.stopping.Store(true)
		}
		if l.lnPaused && n == 0 {
			l.resumeListener()
			timeout = -1
		}
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			fd := int(ev.Fd)
			switch fd {
			case l.wakefd:
				l.onWake()
			case l.lnfd:
				l.onAcceptable(ev.Events)
			default:
				l.onEvent(fd, ev.Events)
			}
		}
		if l.stopping.Load() {
			l.shutdown()
			return
		}
	}
}

// onWake consumes the eventfd before clearing woken, and clears woken
// before taking the queue: a pusher whose write we consumed had appended
// before it, so its item is in this swap; a pusher that finds woken clear
// again writes a fresh wakeup. (The other order could consume a signal and
// leave woken set with items nobody will fetch.)
func (l *eloop) onWake() {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.woken.Store(false)
	if l.lnfd >= 0 && l.e.acceptStop.Load() {
		l.dropListener()
	}
	l.mu.Lock()
	ps := l.pending
	l.pending = l.spare[:0]
	l.mu.Unlock()
	for _, p := range ps {
		l.addConn(int(p.fd), p.dial)
	}
	l.spare = ps[:0]
}

func (l *eloop) onEvent(fd int, events uint32) {
	c := l.e.table.get(fd)
	if c == nil || c.loop != l.idx || int(c.fd) != fd {
		return // not ours: cannot happen (see eloop), cheap to be sure
	}
	if events&unix.EPOLLOUT != 0 {
		c.onWritable()
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	n, errno := sysRead(fd, l.buf)
	switch {
	case n > 0:
		l.bytesIn.Add(uint64(n))
		l.e.g.data(c, l.buf[:n])
	case errno == 0: // EOF
		l.finalise(c, nil)
	case errno == unix.EAGAIN:
		if events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.finalise(c, sockError(fd, "read"))
		}
	default:
		l.finalise(c, os.NewSyscallError("read", errno))
	}
}

// addConn registers a connected descriptor (accepted, or dialled and
// connected) and calls OnOpen.
func (l *eloop) addConn(fd int, dial bool) {
	e := l.e
	c := newConn(fd, l.epfd, true, e.cfg.MaxOutbound)
	c.st = &e.counters
	c.loop = l.idx
	ev := unix.EpollEvent{Events: inEvents, Fd: int32(fd)}
	if !e.table.put(fd, c) {
		l.drop(c, dial, errFdRange)
		return
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		e.table.del(fd)
		l.drop(c, dial, os.NewSyscallError("epoll_ctl", err))
		return
	}
	l.open.Add(1)
	if !dial {
		l.accepted.Add(1)
	}
	e.g.open(c)
}

var errFdRange = errors.New("descriptor beyond the fd table")

// drop releases a descriptor that could not be registered.
func (l *eloop) drop(c *Conn, dial bool, err error) {
	l.e.log.Error("cannot register connection; dropped", "loop", l.idx, "fd", c.fd, "err", err)
	c.markClosed()
	if dial {
		l.e.g.close(c, err)
	}
	unix.Close(int(c.fd))
}

// finalise ends a connection: no writer can reach fd after markClosed, so
// the descriptor can then be released.
func (l *eloop) finalise(c *Conn, err error) {
	fd := int(c.fd)
	c.markClosed()
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	l.e.table.del(fd)
	l.open.Add(-1)
	l.e.g.close(c, err)
	unix.Close(fd)
	if l.lnPaused {
		l.resumeListener() // a descriptor was freed
	}
}

// shutdown runs on the loop goroutine when the engine closes: every
// connection is shut down and finalised, descriptors handed over but never
// opened are closed, and the loop's own descriptors are released.
func (l *eloop) shutdown() {
	l.mu.Lock()
	ps := l.pending
	l.pending = nil
	l.mu.Unlock()
	for _, p := range ps {
		if p.dial {
			c := newConn(int(p.fd), -1, false, 0)
			c.markClosed()
			l.e.g.close(c, ErrClosed)
		}
		unix.Close(int(p.fd))
	}
	l.e.table.each(l.idx, func(c *Conn) {
		c.Close()
		l.finalise(c, nil)
	})
	l.dropListener() // only if the loop stops on its own (epoll_wait failed)
	l.closeFds()
}

func sysRead(fd int, b []byte) (int, unix.Errno) {
	for {
		n, _, e := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
}

// sockError is the pending socket error (SO_ERROR) as a cause for OnClose.
func sockError(fd int, op string) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError(op, err)
	}
	if v == 0 {
		return os.NewSyscallError(op, unix.ECONNRESET)
	}
	return os.NewSyscallError(op, unix.Errno(v))
}
