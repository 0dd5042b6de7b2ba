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
