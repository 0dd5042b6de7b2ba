package poller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// Handler is implemented by the layer above the engine. The engine calls it
// from its own goroutines; calls for one Conn are serialised.
type Handler interface {
	// OnOpen is called once, before any OnData, for an accepted (or dialled)
	// connection. The handler typically sets c.Ctx here.
	OnOpen(c *Conn)
	// OnData hands over bytes read from c. b is valid only during the call
	// and may be modified in place by the handler.
	OnData(c *Conn, b []byte)
	// OnClose is called exactly once when c is gone, with the cause (nil
	// for an orderly close). After it returns no call for c follows and
	// writes to c report ErrClosed.
	OnClose(c *Conn, err error)
}

// Config is what an engine needs; cmd/ fills it from flags.
type Config struct {
	Addr        string       // listen address, e.g. ":8080"; "" for a dial-only engine
	Loops       int          // event loops (epoll engine); 0 means GOMAXPROCS
	MaxOutbound int          // bytes queued per connection before ErrOverflow; 0 means 256 KiB
	ReadBuffer  int          // per-loop scratch read buffer; 0 means 64 KiB
	Backlog     int          // listen backlog; 0 means 4096 (capped by net.core.somaxconn)
	Logger      *slog.Logger // nil means slog.Default()

	// SendBuffer is SO_SNDBUF for every accepted socket, in bytes; 0 keeps
	// the kernel's default (net.ipv4.tcp_wmem, autotuned up to its
	// maximum). The kernel doubles the value it is given (the other half
	// is its bookkeeping), so getsockopt reports 2 x SendBuffer; it caps
	// the request at net.core.wmem_max first; and a socket with an explicit
	// size is no longer autotuned. The kernel memory a slow or silent
	// client can pin is about 2 x SendBuffer per connection.
	SendBuffer int

	// OnPanic, if set, is told of a panic in a Handler callback for c,
	// with the recovered value and the stack, instead of the engine
	// logging it. The engine has recovered; it calls OnPanic on the
	// goroutine that panicked, then closes c with Close (so OnPanic may
	// first write a last frame, e.g. a 1011 close: bytes the kernel takes
	// reach the peer, anything that would queue is dropped), and OnClose
	// follows as for any close. A panic in OnPanic itself is logged.
	OnPanic func(c *Conn, v any, stack []byte)
}

// Engine is one reactor implementation. It is used by cmd/ and server/ at
// start and stop only, never on a per-message path.
type Engine interface {
	Name() string
	// Serve binds Config.Addr and starts the loops. It returns once the
	// listener accepts, or with the error that prevented it.
	Serve(h Handler) error
	// Addr is the bound listen address (useful with ":0").
	Addr() net.Addr
	// StopAccepting closes the listener; established connections stay.
	// It returns promptly even when the process is out of descriptors
	// (accept failing with EMFILE), so a drain never waits on clients.
	StopAccepting() error
	// Close stops accepting, closes every connection (OnClose follows for
	// each) and stops the loops.
	Close() error
	// Stats returns counters folded from the loops.
	Stats() Stats
}

// Stats are engine counters, summed over loops at read time.
type Stats struct {
	Accepted    uint64 // connections accepted
	Open        int64  // connections open now
	BytesIn     uint64 // bytes read from sockets
	BytesOut    uint64 // bytes written to sockets
	WouldBlock  uint64 // writes that met a full socket and queued
	Overflows   uint64 // writes refused with ErrOverflow
	QueuedBytes int64  // bytes waiting in outbound queues now
	Panics      uint64 // Handler callbacks that panicked (each closed its connection)
	Resets      uint64 // connections ended with RST by Conn.Abort
}

// check rejects values no engine can use.
func (c *Config) check() error {
	if c.SendBuffer < 0 {
		return fmt.Errorf("SendBuffer %d: want >= 0 (0: the kernel's default)", c.SendBuffer)
	}
	return nil
}

var (
	// ErrClosed is returned by writes to a connection that is closing or closed.
	ErrClosed = errors.New("poller: connection closed")
	// ErrOverflow is returned when a write would take the connection's
	// queue past Config.MaxOutbound. The queue has already been dropped
	// (but for the rest of a slice partly on the wire) and every later
	// write reports ErrOverflow too, so the peer never sees a stream with
	// a hole; the caller should CloseAfter (a close frame) or Close.
	ErrOverflow = errors.New("poller: outbound queue over its bound")
)

const (
	DefaultMaxOutbound = 256 << 10
	DefaultReadBuffer  = 64 << 10
	DefaultBacklog     = 4096
)
