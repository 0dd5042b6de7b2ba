package poller

import (
	"sync"
)

// Conn is one connection's record, shared by both engines so that the write
// path (conn_write.go) is plain code on a concrete type. The shard stores
// *Conn; Ctx points back to the layer above's per-connection state.
//
// Size: 80 bytes on amd64 (an 80-byte allocation class; see TestConnSize).
// An idle connection holds no buffer: q is nil whenever nothing is queued.
//
// Field ownership:
//   - fd, pollfd, maxOut, st: set before the Conn is published, then read-only.
//   - q, off, queued, state, wflags: guarded by wmu.
//   - loop: set by the epoll loop that holds the Conn, before publishing it.
type Conn struct {
	// Ctx belongs to the layer above (set in Handler.OnOpen).
	Ctx any

	q   []qent        // outbound queue by reference; nil while idle
	st  *connCounters // the engine's write counters (conn_stats.go)
	wmu sync.Mutex

	fd     int32
	pollfd int32 // epoll watching write readiness; -1: none (test conns)
	maxOut int32 // queue bound in bytes
	off    int32 // bytes of q[0] already written
	queued int32 // bytes waiting in q (from off on)

	loop   uint8 // epoll engine: index of the owning loop
	state  uint8 // stOpen..stClosed, under wmu
	wflags uint8 // fRegistered|fArmed|fAdded, under wmu
}

// qent is one queued slice. pooled is set when b is a WriteCopy copy from
// internal/bufpool that must go back once written or dropped.
type qent struct {
	b      []byte
	pooled bool
}

// Connection states. Every transition happens under wmu and only moves
// forward (numerically), except that nothing ever leaves stClosed.
const (
	stOpen       uint8 = iota
	stOverflowed       // ErrOverflow dropped the queue: no more data, only CloseAfter or Close
	stClosing          // CloseAfter: flush the queue, then shutdown(SHUT_WR)
	stHalfClosed       // SHUT_WR done; waiting for the peer's EOF or Close
	stShut             // Close or a write error: SHUT_RDWR done, queue dropped
	stClosed           // markClosed: the engine may release the descriptor
)

// wflags bits.
const (
	fRegistered uint8 = 1 << iota // fd is in pollfd for input (epoll engine)
	fArmed                        // EPOLLOUT is requested on pollfd
	fAdded                        // netpoll write epoll: fd has been ADDed
	fHeadCut                      // q[0] is the rest of a slice already partly on the wire
	fAborted                      // Abort set SO_LINGER 0: the close will reset
	fPaused                       // PauseRead: EPOLLIN is off (epoll engine)
)

// Fd is the socket's descriptor (for diagnostics; never close it).
func (c *Conn) Fd() int { return int(c.fd) }

// Queued is the number of bytes waiting in c's outbound queue.
func (c *Conn) Queued() int {
	c.wmu.Lock()
	n := int(c.queued)
	c.wmu.Unlock()
	return n
}

// ---- internal hooks shared by the engines (implemented in conn_write.go) ----
//
// A connection's write readiness is watched by an epoll instance, pollfd:
//   - epoll engine: the loop's own epoll, where fd is already registered for
//     input (registered == true): arming adds EPOLLOUT with EPOLL_CTL_MOD and
//     draining removes it.
//   - netpoll engine: a write-readiness epoll owned by the engine, where fd is
//     not registered for input (registered == false): arming adds fd with
//     EPOLLOUT|EPOLLONESHOT (ADD the first time, MOD after), and markClosed
//     deletes it. The event's Fd field carries c.Fd().
// Whoever waits on pollfd calls c.onWritable() when EPOLLOUT fires for fd.
// Close() never releases the descriptor: it shuts the socket down (SHUT_RDWR),
// the engine sees EOF/HUP, calls markClosed, then Handler.OnClose, then
// close(2) (the netpoll engine lets netpoll do the close(2) after our close
// callback has run).
//
// Counters: a new Conn counts into defaultCounters; an engine sets c.st to
// its own counters before publishing the Conn and folds them in Stats.

// newConn makes the record for an accepted or dialled socket.
func newConn(fd, pollfd int, registered bool, maxOutbound int) *Conn {
	if maxOutbound <= 0 {
		maxOutbound = DefaultMaxOutbound
	}
	if maxOutbound > 1<<30 {
		maxOutbound = 1 << 30
	}
	c := &Conn{
		fd:     int32(fd),
		pollfd: int32(pollfd),
		maxOut: int32(maxOutbound),
		st:     &defaultCounters,
	}
	if registered {
		c.wflags = fRegistered
	}
	return c
}
