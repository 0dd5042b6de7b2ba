//go:build linux

package poller

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The netpoll engine's connections are read by netpoll's pollers, which we
// cannot ask to report write readiness without also letting netpoll write.
// So write readiness has its own epoll instance (npWaiter.epfd, the pollfd of
// every netpoll-engine Conn) and one goroutine for the whole engine. Conn's
// write path arms a socket there with EPOLLOUT|EPOLLONESHOT when a write
// would block; the waiter calls onWritable, which flushes and re-arms if the
// socket fills again. markClosed deletes the socket from this epoll before
// netpoll closes the descriptor (see the close callback in
// netpoll_engine.go).
//
// epoll_event.data carries the descriptor; the waiter maps it to the Conn
// through npTable. An event harvested just before its connection closed may
// be handled after the number was reused by a new connection: onWritable on a
// Conn with nothing queued (or with a full socket) does nothing harmful, it
// finds the queue empty or meets EAGAIN and re-arms.

// npTable maps a descriptor number to its connection: pages of slots,
// allocated on first use and never freed, read without locks.
type npTable struct {
	mu    sync.Mutex // serialises page allocation only
	pages [npMaxFD >> npPageBits]atomic.Pointer[[1 << npPageBits]npSlot]
}

const (
	npPageBits = 12
	npMaxFD    = 1 << 22 // 4M descriptors; the page index array is 8 KiB
)

// npSlot is the state of the connection that holds a descriptor number.
// conn is set in OnPrepare and cleared (once, by Swap) in the close callback,
// before netpoll releases the number, so a slot never outlives its socket.
type npSlot struct {
	conn atomic.Pointer[Conn]
	// opened reports that Handler.OnOpen has run, so OnClose is owed.
	// netpoll may run the close callbacks without ever running OnConnect
	// (a connection closed between accept and its first task).
	opened atomic.Bool
}

func (t *npTable) slot(fd int) *npSlot {
	if fd < 0 || fd >= npMaxFD {
		return nil
	}
	p := t.pages[fd>>npPageBits].Load()
	if p == nil {
		return nil
	}
	return &p[fd&(1<<npPageBits-1)]
}

// ensure returns fd's slot, allocating its page if needed; nil if fd is out
// of range.
func (t *npTable) ensure(fd int) *npSlot {
	if s := t.slot(fd); s != nil || fd < 0 || fd >= npMaxFD {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := fd >> npPageBits
	p := t.pages[i].Load()
	if p == nil {
		p = new([1 << npPageBits]npSlot)
		t.pages[i].Store(p)
	}
	return &p[fd&(1<<npPageBits-1)]
}

// each calls f for every connection in the table.
func (t *npTable) each(f func(c *Conn)) {
	for i := range t.pages {
		p := t.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if c := p[j].conn.Load(); c != nil {
				f(c)
			}
		}
	}
}

// npWaiter is the engine's write-readiness epoll and its goroutine.
type npWaiter struct {
	epfd int
	wake int // eventfd that stops the goroutine
	done chan struct{}
}

func newNpWaiter() (*npWaiter, error) {
	epfd, wake, err := newEpollWake()
	if err != nil {
		return nil, err
	}
	return &npWaiter{epfd: epfd, wake: wake, done: make(chan struct{})}, nil
}

// run waits for write readiness until stop. It blocks one OS thread in
// epoll_wait, which is the point: no goroutine per connection, one waiter
// per engine.
func (w *npWaiter) run(t *npTable) {
	defer close(w.done)
	var events [256]unix.EpollEvent
	for {
		n, err := unix.EpollWait(w.epfd, events[:], -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Only EBADF/EINVAL can happen, i.e. a bug in our lifecycle.
			panic(fmt.Sprintf("poller: netpoll write waiter: epoll_wait: %v", err))
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == w.wake {
				return
			}
			if s := t.slot(fd); s != nil {
				if c := s.conn.Load(); c != nil {
					c.onWritable()
				}
			}
		}
	}
}

// stop ends run and releases both descriptors. The caller guarantees no
// Conn still uses epfd (every one has been through markClosed), since a
// later epoll_ctl on a released number could reach an unrelated descriptor.
func (w *npWaiter) stop() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(w.wake, one[:])
	<-w.done
	unix.Close(w.epfd)
	unix.Close(w.wake)
}
