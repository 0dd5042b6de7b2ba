//go:build linux

package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/starling-ws/starling/internal/stripe"
)

// Netpoll is the engine built on github.com/cloudwego/netpoll (v0.7.2).
//
// Who does what:
//   - netpoll's pollers (a fixed set of goroutines for the whole process,
//     GOMAXPROCS/20+1 of them, started on first use and never stopped) accept
//     on our listener, read sockets into per-connection LinkBuffers and run
//     OnConnect/OnRequest/close callbacks as tasks on a goroutine pool
//     (bytedance gopool: workers exit when the task queue is empty, so an
//     idle connection has no goroutine).
//   - reads: OnRequest hands every buffered byte to Handler.OnData.
//   - writes: never netpoll's Writer/Flush (Flush parks the caller while the
//     socket is full, so one slow client would stall a fan-out). Conn's own
//     non-blocking path writes to the descriptor; a full socket is watched by
//     this engine's write waiter (netpoll_writewait.go).
//   - close: Conn.Close shuts the socket down; netpoll sees EOF/HUP and runs
//     the close callbacks; ours runs markClosed and Handler.OnClose before
//     netpoll's own callback closes the descriptor (see onClosed).
//
// Handler calls for one connection are never concurrent: netpoll runs
// OnConnect and OnRequest inside one task guarded by the connection's
// "processing" lock, and runs the close callbacks either under that lock
// (closeCallback(needLock=true) fails while a task holds it) or from the task
// itself as it exits (connection_onevent.go, onProcess and closeCallback).
type Netpoll struct {
	cfg Config
	log *slog.Logger
	g   guard // the Handler, called with panics contained (panic.go)

	ln        *npListener
	evl       netpoll.EventLoop
	serveDone chan struct{}
	serveErr  error // set before serveDone is closed

	waiter *npWaiter
	table  npTable

	out      connCounters   // write-path counters of this engine's Conns
	bytesIn  stripe.Counter // OnRequest tasks of different connections run at once
	accepted atomic.Uint64
	open     atomic.Int64

	mu        sync.Mutex // guards served, closed and ln
	served    bool
	closed    bool
	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error
}

// npShutdownWait bounds Engine.Close: connections that have not finished
// closing by then are reported, not waited for.
const npShutdownWait = 5 * time.Second

// NewNetpoll returns the cloudwego/netpoll engine. The process-wide netpoll
// tuning (netpoll_tune.go) is applied by the first call.
func NewNetpoll(cfg Config) (*Netpoll, error) {
	if cfg.MaxOutbound <= 0 {
		cfg.MaxOutbound = DefaultMaxOutbound
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Addr == "" {
		return nil, errors.New("netpoll engine: Config.Addr is empty (the netpoll engine does not dial)")
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("netpoll engine: %w", err)
	}
	if err := tuneNetpoll(cfg.Logger); err != nil {
		return nil, fmt.Errorf("netpoll engine: configure: %w", err)
	}
	return &Netpoll{cfg: cfg, log: cfg.Logger}, nil
}

// Name implements Engine.
func (e *Netpoll) Name() string { return "netpoll" }

// Serve implements Engine. It returns once the socket listens; netpoll
// registers it with a poller right after.
func (e *Netpoll) Serve(h Handler) error {
	if h == nil {
		return errors.New("netpoll engine: nil Handler")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.served {
		return errors.New("netpoll engine: Serve called twice")
	}
	if e.closed {
		return errors.New("netpoll engine: Serve after Close")
	}
	ln, err := listenTCP(e.cfg.Addr, e.cfg.Backlog, e.cfg.SendBuffer)
	if err != nil {
		return fmt.Errorf("netpoll engine: %w", err)
	}
	w, err := newNpWaiter()
	if err != nil {
		ln.Close()
		return fmt.Errorf("netpoll engine: write waiter: %w", err)
	}
	evl, err := netpoll.NewEventLoop(e.onRequest,
		netpoll.WithOnPrepare(e.onPrepare),
		netpoll.WithOnConnect(e.onConnect),
	)
	if err != nil {
		ln.Close()
		w.stop()
		return fmt.Errorf("netpoll engine: event loop: %w", err)
	}
	e.g.h, e.g.onPanic, e.g.log = h, e.cfg.OnPanic, e.log
	e.ln, e.waiter, e.evl = ln, w, evl
	e.serveDone = make(chan struct{})
	e.served = true
	go w.run(&e.table)
	go func() {
		// Serve blocks until the listener is shut down (EPOLLHUP) or
		// EventLoop.Shutdown is called.
		e.serveErr = evl.Serve(ln)
		close(e.serveDone)
	}()
	return nil
}

// Addr implements Engine: the bound address (the real port for ":0"); nil
// before Serve.
func (e *Netpoll) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return nil
	}
	return e.ln.addr
}

// StopAccepting implements Engine. The listening socket is shut down
// (pending, unaccepted connections are reset; new ones are refused) but its
// descriptor stays registered with netpoll until Close, which releases it
// after netpoll has detached it: releasing it here could let a new socket
// reuse the number while netpoll still refers to it.
func (e *Netpoll) StopAccepting() error {
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	if ln == nil {
		return nil
	}
	e.stopOnce.Do(func() {
		if err := ln.shutdown(); err != nil {
			e.stopErr = fmt.Errorf("netpoll engine: stop accepting: %w", err)
		}
	})
	return e.stopErr
}

// Close implements Engine: stop accepting, close every connection (OnClose
// follows for each), stop netpoll's event loop and the write waiter. What
// remains afterwards is netpoll's process-wide pollers (see Netpoll).
func (e *Netpoll) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Netpoll) close() error {
	e.mu.Lock()
	served := e.served
	e.closed = true
	e.mu.Unlock()
	if !served {
		return nil
	}
	deadline := time.Now().Add(npShutdownWait)
	var errs []error
	if err := e.StopAccepting(); err != nil {
		errs = append(errs, err)
	}
	// EventLoop.Shutdown does nothing if it runs before Serve has installed
	// its server, so wait for Serve to end (the listener's EPOLLHUP ends it).
	select {
	case <-e.serveDone:
	case <-time.After(time.Until(deadline)):
		errs = append(errs, errors.New("netpoll engine: event loop did not stop"))
	}
	// Shut every socket down: netpoll sees HUP and runs the close callbacks
	// on its own goroutines.
	e.table.each(func(c *Conn) { c.Close() })
	// Shutdown detaches and closes the listener, then closes whatever netpoll
	// still tracks that is idle, waiting for busy connections until ctx ends.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := e.evl.Shutdown(ctx)
	cancel()
	if err != nil {
		errs = append(errs, fmt.Errorf("netpoll engine: shutdown: %w", err))
	}
	for e.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if n := e.open.Load(); n > 0 {
		// The waiter's epoll is still some Conn's pollfd: releasing it now
		// could let markClosed reach a reused descriptor, so keep it.
		e.log.Error("netpoll engine: connections still open after close; write waiter kept", "open", n)
		errs = append(errs, fmt.Errorf("netpoll engine: %d connections did not close", n))
	} else {
		e.waiter.stop()
	}
	return errors.Join(errs...)
}

// Stats implements Engine.
func (e *Netpoll) Stats() Stats {
	var st Stats
	st.Accepted = e.accepted.Load()
	st.Open = e.open.Load()
	st.BytesIn = uint64(e.bytesIn.Load())
	e.out.fold(&st)
	st.Panics = e.g.panics.Load()
	return st
}

// ---- netpoll callbacks ----

// npFd returns a netpoll connection's descriptor. netpoll.Connection does not
// list Fd, but its only implementation (*netpoll.connection, via netFD) has
// it; the assertion is an itab-cache lookup, no allocation.
func npFd(conn netpoll.Connection) int {
	if f, ok := conn.(interface{ Fd() int }); ok {
		return f.Fd()
	}
	return -1
}

// onPrepare runs on a poller goroutine for each accepted connection, before
// netpoll registers it for reading, so no callback of this connection can
// precede it.
func (e *Netpoll) onPrepare(conn netpoll.Connection) context.Context {
	fd := npFd(conn)
	s := e.table.ensure(fd)
	if s == nil {
		e.log.Error("netpoll engine: descriptor out of table range; refusing connection", "fd", fd)
		_ = conn.Close()
		return nil
	}
	c := newConn(fd, e.waiter.epfd, false, e.cfg.MaxOutbound)
	c.st = &e.out
	s.opened.Store(false)
	s.conn.Store(c)
	e.accepted.Add(1)
	e.open.Add(1)
	// The callback owns its Conn (not the slot) so that a second run of the
	// chain, which netpoll allows on a panicking task, cannot touch the
	// connection that later reuses this descriptor number.
	_ = conn.AddCloseCallback(func(netpoll.Connection) error {
		e.onClosed(fd, c)
		return nil
	})
	return nil // netpoll substitutes context.Background()
}

// onConnect runs as the connection's first task, before any OnRequest.
func (e *Netpoll) onConnect(ctx context.Context, conn netpoll.Connection) context.Context {
	s := e.table.slot(npFd(conn))
	if s == nil {
		return ctx
	}
	if c := s.conn.Load(); c != nil {
		e.g.open(c)
		s.opened.Store(true)
	}
	return ctx
}

// onRequest takes every buffered byte. netpoll calls it again while input is
// left (it must either consume all of it or close), and never concurrently
// for one connection.
//
// Next(Len()) returns a slice of the LinkBuffer node itself when the bytes
// sit in one node (the common case: one read into one node), so nothing is
// copied; only when they span nodes does netpoll gather them into a buffer
// from its own size-class cache, which Release returns.
func (e *Netpoll) onRequest(_ context.Context, conn netpoll.Connection) error {
	r := conn.Reader()
	n := r.Len()
	if n == 0 {
		return nil
	}
	b, err := r.Next(n)
	if err != nil {
		return err
	}
	fd := npFd(conn)
	if s := e.table.slot(fd); s != nil && s.opened.Load() {
		if c := s.conn.Load(); c != nil {
			e.g.data(c, b)
		}
	}
	e.bytesIn.Add(fd, int64(n))
	return r.Release()
}

// onClosed is this connection's close callback.
//
// Invariant: it runs before netpoll closes the descriptor, so markClosed
// (which deletes fd from the write waiter's epoll under wmu and makes every
// later write report ErrClosed) happens while the number is still ours.
// netpoll v0.7.2 guarantees the order:
//   - connection.init calls c.initFinalizer() (connection_impl.go:378)
//     before c.onPrepare(opts) (connection_impl.go:388), so the finalizer,
//     whose callback calls c.netFD.Close() (connection_impl.go:413-417), is
//     the first close callback added; ours is added later, in onPrepare.
//   - AddCloseCallback pushes onto a list whose head is the latest
//     (connection_onevent.go:80-91), and closeCallback walks it from the head
//     (connection_onevent.go:283-285): latest first, finalizer last.
//
// OnClose is delivered only if OnOpen was: netpoll skips OnConnect for a
// connection whose close callbacks won the processing lock first (e.g.
// EventLoop.Shutdown closing it right after accept).
func (e *Netpoll) onClosed(fd int, c *Conn) {
	if !c.markClosed() {
		return // already done (netpoll ran the chain twice)
	}
	opened := false
	if s := e.table.slot(fd); s != nil && s.conn.CompareAndSwap(c, nil) {
		opened = s.opened.Swap(false)
	}
	// Counted down after OnClose returns: Engine.Close waits for zero, so
	// no OnClose is still running when it returns.
	defer e.open.Add(-1)
	if opened {
		// netpoll does not report why a connection ended (EOF, reset, our
		// own shutdown), so the cause is always nil.
		e.g.close(c, nil)
	}
}
