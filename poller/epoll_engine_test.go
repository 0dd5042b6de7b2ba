//go:build linux

package poller

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recorder is a test Handler: it counts callbacks per connection so that
// "exactly once" can be checked, and delegates data to onData.
type recorder struct {
	mu      sync.Mutex
	opens   map[*Conn]int
	closes  map[*Conn]int
	errs    []error
	onOpen  func(c *Conn)
	onData  func(c *Conn, b []byte)
	nOpen   atomic.Int64
	nClose  atomic.Int64
	badData atomic.Int64 // OnData before OnOpen or after OnClose
}

func newRecorder() *recorder {
	return &recorder{opens: map[*Conn]int{}, closes: map[*Conn]int{}}
}

func (r *recorder) OnOpen(c *Conn) {
	r.mu.Lock()
	r.opens[c]++
	r.mu.Unlock()
	r.nOpen.Add(1)
	if r.onOpen != nil {
		r.onOpen(c)
	}
}

func (r *recorder) OnData(c *Conn, b []byte) {
	r.mu.Lock()
	ok := r.opens[c] == 1 && r.closes[c] == 0
	r.mu.Unlock()
	if !ok {
		r.badData.Add(1)
	}
	if r.onData != nil {
		r.onData(c, b)
	}
}

func (r *recorder) OnClose(c *Conn, err error) {
	r.mu.Lock()
	r.closes[c]++
	if err != nil {
		r.errs = append(r.errs, err)
	}
	r.mu.Unlock()
	r.nClose.Add(1)
}

// check verifies that every opened connection was closed exactly once.
func (r *recorder) checkClosedOnce(t *testing.T, dialled bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, n := range r.opens {
		if n != 1 {
			t.Errorf("conn fd %d: OnOpen %d times", c.Fd(), n)
		}
		if r.closes[c] != 1 {
			t.Errorf("conn fd %d: OnClose %d times", c.Fd(), r.closes[c])
		}
	}
	for c, n := range r.closes {
		if n != 1 {
			t.Errorf("conn fd %d: OnClose %d times", c.Fd(), n)
		}
		if !dialled && r.opens[c] != 1 {
			t.Errorf("conn fd %d closed without OnOpen", c.Fd())
		}
	}
	if r.badData.Load() != 0 {
		t.Errorf("%d OnData calls outside OnOpen..OnClose", r.badData.Load())
	}
}

func echo(c *Conn, b []byte) { _ = c.WriteCopy(b) }

func startEpoll(t testing.TB, mode acceptMode, cfg Config, h Handler) *Epoll {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	e, err := NewEpoll(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.mode = mode
	if err := e.Serve(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func epWait(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var modes = []struct {
	name string
	mode acceptMode
}{{"reuseport", acceptReusePort}, {"acceptor", acceptSingle}}

func TestEpollEcho(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRecorder()
			r.onData = echo
			e := startEpoll(t, m.mode, Config{Addr: "127.0.0.1:0"}, r)
			if e.Name() != "epoll" {
				t.Fatal(e.Name())
			}
			port := e.Addr().(*net.TCPAddr).Port
			if port == 0 {
				t.Fatal("Addr has port 0")
			}
			nc, err := net.Dial("tcp", e.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			want := []byte("hello, starling")
			nc.Write(want)
			got := make([]byte, len(want))
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("echo %q, %v", got, err)
			}
			epWait(t, "stats", 5*time.Second, func() bool { return e.Stats().BytesOut == uint64(len(want)) })
			s := e.Stats()
			if s.Accepted != 1 || s.Open != 1 || s.BytesIn != uint64(len(want)) {
				t.Fatalf("stats %+v", s)
			}
			nc.Close()
			epWait(t, "OnClose", 5*time.Second, func() bool { return r.nClose.Load() == 1 })
			r.checkClosedOnce(t, false)
			if s := e.Stats(); s.Open != 0 {
				t.Fatalf("Open=%d after close", s.Open)
			}
		})
	}
}

// TestEpollManyConns: 1,000 concurrent connections each echo a distinct
// message; then the peers close and every connection gets exactly one
// OnClose.
func TestEpollManyConns(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRecorder()
			r.onData = echo
			e := startEpoll(t, m.mode, Config{Loops: 2}, r)
			const n = 1000
			var wg sync.WaitGroup
			errc := make(chan error, n)
			conns := make([]net.Conn, n)
			for i := 0; i < n; i++ {
				nc, err := net.Dial("tcp", e.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				conns[i] = nc
			}
			for i, nc := range conns {
				wg.Add(1)
				go func(i int, nc net.Conn) {
					defer wg.Done()
					want := []byte(fmt.Sprintf("message %d from client %d", i*7, i))
					if _, err := nc.Write(want); err != nil {
						errc <- err
						return
					}
					got := make([]byte, len(want))
					nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, want) {
						errc <- fmt.Errorf("conn %d: %q %v", i, got, err)
					}
				}(i, nc)
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatalf("%v; stats %+v", err, e.Stats())
			}
			if s := e.Stats(); s.Accepted != n || s.Open != n {
				t.Fatalf("stats %+v", s)
			}
			for _, nc := range conns {
				nc.Close()
			}
			epWait(t, "all OnClose", 10*time.Second, func() bool { return r.nClose.Load() == n })
			// Close returns once the loops have stopped: a duplicate
			// OnClose would have run by then.
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			r.checkClosedOnce(t, false)
		})
	}
}

// TestEpollCloseFinalisesAll: engine Close gives every connection one
// OnClose, the peers see EOF, and no goroutine is left behind.
func TestEpollCloseFinalisesAll(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			g0 := runtime.NumGoroutine()
			r := newRecorder()
			r.onData = echo
			e, err := NewEpoll(Config{Addr: "127.0.0.1:0", Loops: 3})
			if err != nil {
				t.Fatal(err)
			}
			e.mode = m.mode
			if err := e.Serve(r); err != nil {
				t.Fatal(err)
			}
			const n = 200
			fds := dialRaw(t, e.Addr().String(), n)
			epWait(t, "opens", 5*time.Second, func() bool { return r.nOpen.Load() == n })
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if got := r.nClose.Load(); got != n {
				t.Fatalf("OnClose %d times after Close, want %d", got, n)
			}
			r.checkClosedOnce(t, false)
			for _, fd := range fds {
				setBlocking(t, fd)
				var b [8]byte
				if k, err := unix.Read(fd, b[:]); k != 0 || err != nil {
					t.Fatalf("peer read %d, %v; want EOF", k, err)
				}
				unix.Close(fd)
			}
			if err := e.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			epWait(t, "goroutines to exit", 5*time.Second, func() bool { return runtime.NumGoroutine() <= g0 })
			if _, err := net.Dial("tcp", e.Addr().String()); err == nil {
				t.Fatal("dial succeeded after Close")
			}
		})
	}
}

// dialRaw opens n blocking loopback connections as bare descriptors (no Go
// objects, no netpoller), for tests that hold many.
func dialRaw(t testing.TB, addr string, n int) []int {
	t.Helper()
	sa, fam, err := resolveSockaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	fds := make([]int, 0, n)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			t.Fatalf("connect %d: %v", i, err)
		}
		fds = append(fds, fd)
	}
	return fds
}

func setBlocking(t testing.TB, fd int) {
	t.Helper()
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 5}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// TestEpollGoroutinesFlat holds 5,000 connections and checks the goroutine
// count does not move with them.
func TestEpollGoroutinesFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 5,000 connections")
	}
	r := newRecorder()
	e := startEpoll(t, defaultAcceptMode, Config{}, r)
	g0 := runtime.NumGoroutine() // the loops' goroutines count from their go statement
	const n = 5000
	fds := dialRaw(t, e.Addr().String(), n)
	epWait(t, "opens", 20*time.Second, func() bool { return r.nOpen.Load() == n })
	g1 := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d with %d connections", g0, g1, n)
	if g1-g0 > 2 {
		t.Fatalf("goroutines grew by %d with %d connections", g1-g0, n)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	epWait(t, "closes", 20*time.Second, func() bool { return r.nClose.Load() == n })
}

// TestEpollEngineDrainsQueue: the server writes 4 MiB by reference to a
// client that reads slowly, then CloseAfter; the client reads every byte in
// order, then EOF. This runs the engine's EPOLLOUT path.
func TestEpollEngineDrainsQueue(t *testing.T) {
	const total = 4 << 20
	payload := make([]byte, total)
	rand.New(rand.NewSource(7)).Read(payload)
	r := newRecorder()
	var writeErr atomic.Value
	written := make(chan struct{})
	r.onData = func(c *Conn, b []byte) {
		defer close(written)
		for off := 0; off < total; off += 64 << 10 {
			if err := c.Write(payload[off : off+64<<10]); err != nil {
				writeErr.Store(err)
				return
			}
		}
		c.CloseAfter([]byte("END"))
	}
	e := startEpoll(t, defaultAcceptMode, Config{MaxOutbound: 8 << 20}, r)
	nc, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(16 << 10)
	nc.Write([]byte("go"))
	// The handler has written everything; the client has read nothing, so
	// most of the 4 MiB must be waiting in the queue.
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not finish writing")
	}
	if s := e.Stats(); s.QueuedBytes == 0 || s.WouldBlock == 0 {
		t.Fatalf("nothing queued: %+v", s)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatal(err)
	}
	if v := writeErr.Load(); v != nil {
		t.Fatal(v)
	}
	if !bytes.Equal(got, append(payload, "END"...)) {
		t.Fatalf("got %d bytes, want %d (or content differs)", len(got), total+3)
	}
	nc.Close()
	epWait(t, "OnClose", 5*time.Second, func() bool { return r.nClose.Load() == 1 })
	if s := e.Stats(); s.QueuedBytes != 0 {
		t.Fatalf("QueuedBytes=%d after drain", s.QueuedBytes)
	}
}

// TestEpollOverflowClose: a client that never reads makes the server hit
// ErrOverflow; Close then finalises it.
func TestEpollOverflowClose(t *testing.T) {
	r := newRecorder()
	big := make([]byte, 32<<10)
	var overflowed atomic.Bool
	r.onData = func(c *Conn, b []byte) {
		for i := 0; i < 1000; i++ {
			if err := c.Write(big); errors.Is(err, ErrOverflow) {
				overflowed.Store(true)
				if c.Queued() >= len(big) {
					panic("queue kept after overflow")
				}
				c.Close()
				return
			}
		}
	}
	e := startEpoll(t, defaultAcceptMode, Config{MaxOutbound: 256 << 10}, r)
	fds := dialRaw(t, e.Addr().String(), 1)
	unix.Write(fds[0], []byte("x"))
	epWait(t, "OnClose after overflow", 5*time.Second, func() bool { return r.nClose.Load() == 1 })
	if !overflowed.Load() || e.Stats().Overflows == 0 {
		t.Fatalf("no overflow: %+v", e.Stats())
	}
}

func TestEpollStopAccepting(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRecorder()
			r.onData = echo
			e := startEpoll(t, m.mode, Config{}, r)
			nc, err := net.Dial("tcp", e.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			epWait(t, "open", 5*time.Second, func() bool { return r.nOpen.Load() == 1 })
			checkStopAccepting(t, e, nc)
		})
	}
}

func TestEpollConfigErrors(t *testing.T) {
	if _, err := NewEpoll(Config{Loops: 1000}); err == nil {
		t.Fatal("1000 loops accepted")
	}
	e, _ := NewEpoll(Config{Addr: "127.0.0.1:bad"})
	if err := e.Serve(newRecorder()); err == nil {
		t.Fatal("bad address accepted")
	}
	e.Close()
	e, _ = NewEpoll(Config{})
	if err := e.Serve(newRecorder()); err == nil {
		t.Fatal("Serve without Addr accepted")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	e, _ = NewEpoll(Config{Addr: ln.Addr().String()})
	e.mode = acceptSingle
	if err := e.Serve(newRecorder()); err == nil {
		t.Fatal("listen on a taken port succeeded")
	}
	if _, err := New("nope", Config{}); err == nil {
		t.Fatal("unknown engine accepted")
	}
	if en, err := New("epoll", Config{}); err != nil || en.Name() != "epoll" {
		t.Fatal(en, err)
	}
}
