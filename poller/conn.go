package poller

// Conn is one connection's record, shared by both engines so that the write
// path (conn_write.go) is plain code on a concrete type. The shard stores
// *Conn; Ctx points back to the layer above's per-connection state.
//
// STUB: fields and methods are filled in by the poller implementation.
type Conn struct {
	// Ctx belongs to the layer above (set in Handler.OnOpen).
	Ctx any

	fd int32
}

// Fd is the socket's descriptor (for diagnostics; never close it).
func (c *Conn) Fd() int { return int(c.fd) }

// Write sends b, which the caller promises never to modify again: if the
// socket would block, b is queued by reference. It never blocks. Errors:
// ErrClosed, ErrOverflow.
func (c *Conn) Write(b []byte) error { panic("stub") }

// Writev is Write for several shared slices, sent with one writev(2) when
// possible.
func (c *Conn) Writev(bs [][]byte) error { panic("stub") }

// WriteCopy sends b, copying it (into a pooled buffer) only if it must be
// queued, so the caller may reuse b as soon as it returns.
func (c *Conn) WriteCopy(b []byte) error { panic("stub") }

// CloseAfter queues last (shared bytes, exempt from the bound) after what is
// already queued, then half-closes the connection (shutdown SHUT_WR) once
// everything is written. Later writes report ErrClosed. The connection is
// fully closed when the peer closes its side or when Close is called.
func (c *Conn) CloseAfter(last []byte) { panic("stub") }

// Close closes the connection now, dropping anything queued. Safe from any
// goroutine, any number of times; OnClose follows once, from the engine.
func (c *Conn) Close() { panic("stub") }

// Queued is the number of bytes waiting in c's outbound queue.
func (c *Conn) Queued() int { panic("stub") }

// ---- internal hooks shared by the engines (implemented in conn_write.go) ----
//
// A connection's write readiness is watched by an epoll instance, pollfd:
//   - epoll engine: the loop's own epoll, where fd is already registered for
//     input (registered == true): arming adds EPOLLOUT with EPOLL_CTL_MOD and
//     draining removes it.
//   - netpoll engine: a write-readiness epoll owned by the engine, where fd is
//     not registered for input (registered == false): arming adds fd with
//     EPOLLOUT|EPOLLONESHOT (ADD the first time, MOD after), and markClosed
//     deletes it.
// Whoever waits on pollfd calls c.onWritable() when EPOLLOUT fires for fd.
// Close() never releases the descriptor: it shuts the socket down (SHUT_RDWR),
// the engine sees EOF/HUP, calls markClosed, then Handler.OnClose, then
// close(2) (the netpoll engine lets netpoll do the close(2) after our close
// callback has run).

// newConn makes the record for an accepted or dialled socket.
func newConn(fd, pollfd int, registered bool, maxOutbound int) *Conn { panic("stub") }

// onWritable flushes the queue after EPOLLOUT; on empty it disarms, and if
// CloseAfter was asked it half-closes.
func (c *Conn) onWritable() { panic("stub") }

// markClosed flips the connection to closed under wmu (so no writer can touch
// fd afterwards), drops the queue and deregisters from pollfd if needed. It
// reports whether this call did it (true exactly once).
func (c *Conn) markClosed() bool { panic("stub") }
