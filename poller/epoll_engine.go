//go:build linux

package poller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Epoll is the native engine: N event loops (epoll_loop.go), each with its
// own epoll instance, goroutine and scratch read buffer, and one paged
// fd-indexed connection table for the engine (epoll_table.go). An idle
// connection costs its Conn record (80 bytes) and one table slot (8 bytes);
// nothing else.
//
// Goroutines: one per loop, plus one acceptor in acceptSingle mode. None
// per connection.
//
// Close and StopAccepting must not be called from a Handler callback (they
// wait for the loops).
type Epoll struct {
	cfg  Config
	log  *slog.Logger
	mode acceptMode
	// lockThread pins each loop goroutine to its OS thread. Off: the echo
	// benchmark (BenchmarkEpollEcho) showed no gain on this machine.
	lockThread bool

	g      guard   // the Handler, called with panics contained (panic.go)
	dialer *dialer // Start (dial.go) only; under mu
	loops  []*eloop
	table  fdTable // shared by the loops; each writes only its own slots
	addr   net.Addr
	rr     atomic.Uint32

	// counters count the write path of this engine's connections
	// (conn_stats.go); loops count reads and accepts.
	counters connCounters

	// acceptStop is set by StopAccepting: every accepter lets go of its
	// listener at its next look, whatever accept(2) returns (see
	// StopAccepting).
	acceptStop atomic.Bool

	mu      sync.RWMutex // guards started/closed transitions and lnfds; Dial holds it shared
	started bool
	closed  bool
	lnfds   []int
	lnStop  sync.Once
	lnWG    sync.WaitGroup // open listeners (acceptSingle: the acceptor goroutine)
	loopWG  sync.WaitGroup
}

// acceptMode picks how connections are accepted; see the accept benchmarks
// (epoll_accept_test.go) for why defaultAcceptMode is what it is.
type acceptMode uint8

const (
	// acceptReusePort: one SO_REUSEPORT listener per loop, in the loop's own
	// epoll; the kernel spreads connections and no hand-off is needed.
	acceptReusePort acceptMode = iota
	// acceptSingle: one listener, one acceptor goroutine blocked in
	// accept4, handing descriptors round-robin to the loops.
	acceptSingle
)

const defaultAcceptMode = acceptReusePort

// maxLoops bounds Config.Loops: Conn.loop is a uint8.
const maxLoops = 256

// NewEpoll returns the native epoll engine. Nothing is opened until Serve or
// Start.
func NewEpoll(cfg Config) (*Epoll, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	if cfg.Loops > maxLoops {
		return nil, fmt.Errorf("poller: epoll: %d loops, at most %d", cfg.Loops, maxLoops)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("poller: epoll: %w", err)
	}
	if cfg.MaxOutbound <= 0 {
		cfg.MaxOutbound = DefaultMaxOutbound
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	return &Epoll{cfg: cfg, log: lg.With("engine", "epoll"), mode: defaultAcceptMode}, nil
}

// Name is "epoll".
func (e *Epoll) Name() string { return "epoll" }

// Addr is the bound listen address, nil before Serve.
func (e *Epoll) Addr() net.Addr {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.addr
}

// Serve binds Config.Addr and starts the loops.
func (e *Epoll) Serve(h Handler) error { return e.start(h, true) }

var errStarted = errors.New("poller: epoll: already started or closed")

func (e *Epoll) start(h Handler, listen bool) (err error) {
	if h == nil {
		return errors.New("poller: epoll: nil handler")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.closed {
		return errStarted
	}
	if listen && e.cfg.Addr == "" {
		return errors.New("poller: epoll: Serve needs Config.Addr")
	}
	e.g.h, e.g.onPanic, e.g.log = h, e.cfg.OnPanic, e.log
	defer func() {
		if err != nil {
			e.releaseLocked()
		}
	}()
	for i := 0; i < e.cfg.Loops; i++ {
		l, err := newLoop(e, i)
		if err != nil {
			return fmt.Errorf("poller: epoll: loop %d: %w", i, err)
		}
		e.loops = append(e.loops, l)
	}
	if listen {
		if err := e.listen(); err != nil {
			return err
		}
	}
	e.started = true
	for _, l := range e.loops {
		e.loopWG.Add(1)
		go l.run()
	}
	if listen && e.mode == acceptSingle {
		e.lnWG.Add(1)
		go e.acceptLoop(e.lnfds[0])
	}
	return nil
}

// releaseLocked undoes a failed start.
func (e *Epoll) releaseLocked() {
	for _, fd := range e.lnfds {
		unix.Close(fd)
	}
	e.lnfds = nil
	for _, l := range e.loops {
		l.closeFds()
	}
	e.loops = nil
	e.addr = nil
}

// StopAccepting shuts the listeners down and waits until they are closed;
// established connections stay. It returns promptly even when descriptors
// have run out: accept(2) on a shut-down listener reports EINVAL only once
// it can allocate a descriptor (the kernel allocates first), so waiting for
// EINVAL could wait for as long as clients hold the process's last
// descriptors. Instead every accepter is told by acceptStop and a wakeup,
// and drops its listener whatever accept would say.
func (e *Epoll) StopAccepting() error {
	e.mu.Lock()
	fds, loops := e.lnfds, e.loops
	e.mu.Unlock()
	e.lnStop.Do(func() {
		e.acceptStop.Store(true)
		// shutdown(2) on a listening socket wakes a blocked accept4 (the
		// acceptor goroutine) and makes the socket report EPOLLHUP; the
		// eventfd wakes a loop whose listener is paused out of its epoll.
		for _, fd := range fds {
			_ = unix.Shutdown(fd, unix.SHUT_RDWR)
		}
		for _, l := range loops {
			l.wake(true)
		}
	})
	e.lnWG.Wait()
	e.mu.Lock()
	for _, fd := range e.lnfds {
		unix.Close(fd)
	}
	e.lnfds = nil
	e.mu.Unlock()
	return nil
}

// Close stops accepting, closes every connection (OnClose follows for each,
// with a nil error) and stops the loops.
func (e *Epoll) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	started, d := e.started, e.dialer
	e.mu.Unlock()
	if !started {
		return nil
	}
	_ = e.StopAccepting()
	if d != nil {
		d.stop() // before the loops: it hands connected sockets to them
	}
	for _, l := range e.loops {
		l.stopping.Store(true)
		l.wake(true)
	}
	e.loopWG.Wait()
	return nil
}

// Stats folds the loops' and the write path's counters.
func (e *Epoll) Stats() Stats {
	var s Stats
	e.counters.fold(&s)
	s.Panics = e.g.panics.Load()
	e.mu.RLock()
	loops := e.loops
	e.mu.RUnlock()
	for _, l := range loops {
		s.Accepted += l.accepted.Load()
		s.Open += l.open.Load()
		s.BytesIn += l.bytesIn.Load()
	}
	return s
}

// pick chooses a loop for a connection handed over from outside the loops.
func (e *Epoll) pick() *eloop {
	return e.loops[int(e.rr.Add(1)-1)%len(e.loops)]
}
