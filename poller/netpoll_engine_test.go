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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// npRec is a Handler that records what the engine calls and checks the
// contract on every call: OnOpen first and once, no OnData after OnClose,
// OnClose once, and no two calls for one Conn at the same time.
type npRec struct {
	t      testing.TB
	onOpen func(c *Conn)
	onData func(c *Conn, b []byte)

	opens, closes atomic.Int64
	closed        chan *Conn // every OnClose, buffered
	violations    atomic.Int64
	mu            sync.Mutex
	firstViol     string
}

type npRecState struct {
	busy   atomic.Int32
	closes atomic.Int32
	opened atomic.Bool
	user   any
}

func newNpRec(t testing.TB) *npRec {
	return &npRec{t: t, closed: make(chan *Conn, 20000)}
}

func (r *npRec) violate(format string, args ...any) {
	if r.violations.Add(1) == 1 {
		r.mu.Lock()
		r.firstViol = fmt.Sprintf(format, args...)
		r.mu.Unlock()
	}
}

func (r *npRec) enter(c *Conn, what string) *npRecState {
	st, _ := c.Ctx.(*npRecState)
	if st == nil {
		r.violate("%s before OnOpen (fd %d)", what, c.Fd())
		return &npRecState{}
	}
	if st.busy.Add(1) != 1 {
		r.violate("%s concurrent with another call (fd %d)", what, c.Fd())
	}
	if st.closes.Load() != 0 {
		r.violate("%s after OnClose (fd %d)", what, c.Fd())
	}
	return st
}

func (r *npRec) OnOpen(c *Conn) {
	if c.Ctx != nil {
		r.violate("OnOpen twice (fd %d)", c.Fd())
	}
	st := &npRecState{}
	st.busy.Add(1)
	c.Ctx = st
	r.opens.Add(1)
	if r.onOpen != nil {
		r.onOpen(c)
	}
	st.opened.Store(true)
	st.busy.Add(-1)
}

func (r *npRec) OnData(c *Conn, b []byte) {
	st := r.enter(c, "OnData")
	if r.onData != nil {
		r.onData(c, b)
	}
	st.busy.Add(-1)
}

func (r *npRec) OnClose(c *Conn, err error) {
	st := r.enter(c, "OnClose")
	if st.closes.Add(1) != 1 {
		r.violate("OnClose twice (fd %d)", c.Fd())
	}
	if werr := c.Write([]byte("x")); !errors.Is(werr, ErrClosed) {
		r.violate("Write in OnClose = %v, want ErrClosed", werr)
	}
	r.closes.Add(1)
	st.busy.Add(-1)
	r.closed <- c
}

// check fails the test on any contract violation seen so far.
func (r *npRec) check(t testing.TB) {
	t.Helper()
	if n := r.violations.Load(); n > 0 {
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("%d handler contract violations; first: %s", n, r.firstViol)
	}
}

func echoData(c *Conn, b []byte) {
	if err := c.WriteCopy(b); err != nil && !errors.Is(err, ErrClosed) {
		panic(err)
	}
}

// startNetpoll serves h on a loopback port; Close runs at cleanup.
func startNetpoll(t testing.TB, cfg Config, h Handler) *Netpoll {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	e, err := NewNetpoll(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serve(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func dialNp(t testing.TB, e *Netpoll) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// waitFor polls cond for up to d.
func npWaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNetpollConfigErrors(t *testing.T) {
	f := func(name string, run func() error, want string) {
		t.Helper()
		err := run()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, want)
		}
	}
	f("empty addr", func() error { _, err := NewNetpoll(Config{}); return err }, "Addr is empty")
	f("bad addr", func() error {
		e, err := NewNetpoll(Config{Addr: "127.0.0.1:notaport"})
		if err != nil {
			return err
		}
		return e.Serve(newNpRec(t))
	}, "netpoll listen")
	f("nil handler", func() error {
		e, _ := NewNetpoll(Config{Addr: "127.0.0.1:0"})
		return e.Serve(nil)
	}, "nil Handler")
	f("serve twice", func() error {
		e := startNetpoll(t, Config{}, newNpRec(t))
		return e.Serve(newNpRec(t))
	}, "twice")
	f("port in use", func() error {
		a := startNetpoll(t, Config{}, newNpRec(t))
		e, _ := NewNetpoll(Config{Addr: a.Addr().String()})
		return e.Serve(newNpRec(t))
	}, "address already in use")

	e, _ := NewNetpoll(Config{Addr: "127.0.0.1:0"})
	if e.Addr() != nil {
		t.Errorf("Addr before Serve = %v, want nil", e.Addr())
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close of an engine never served: %v", err)
	}
	f("serve after close", func() error { return e.Serve(newNpRec(t)) }, "after Close")
}

func TestNetpollEcho(t *testing.T) {
	r := newNpRec(t)
	r.onData = echoData
	e := startNetpoll(t, Config{}, r)
	if p := e.Addr().(*net.TCPAddr).Port; p == 0 {
		t.Fatalf("Addr() port is 0")
	}
	c := dialNp(t, e)
	defer c.Close()
	total := 0
	for i, msg := range []string{"hello", "x", strings.Repeat("abcdefgh", 8000)} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("msg %d: %v", i, err)
		}
		if string(got) != msg {
			t.Fatalf("msg %d: echo mismatch", i)
		}
		total += len(msg)
	}
	// The counters move just after the bytes do (after OnData returns,
	// after write(2)), so the client may see its echo first: wait for them.
	var st Stats
	ok := func() bool {
		st = e.Stats()
		return st.Accepted == 1 && st.Open == 1 && st.BytesIn == uint64(total) && st.BytesOut == uint64(total)
	}
	for deadline := time.Now().Add(5 * time.Second); !ok() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if !ok() {
		t.Fatalf("Stats = %+v, want Accepted 1, Open 1, BytesIn = BytesOut = %d", st, total)
	}
	c.Close()
	npWaitFor(t, 5*time.Second, "OnClose", func() bool { return r.closes.Load() == 1 })
	if st := e.Stats(); st.Open != 0 {
		t.Fatalf("Open = %d after close", st.Open)
	}
	r.check(t)
}

func TestNetpollThousandConns(t *testing.T) {
	const n = 1000
	r := newNpRec(t)
	r.onData = echoData
	e := startNetpoll(t, Config{}, r)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	conns := make([]net.Conn, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", e.Addr().String(), 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			msg := []byte(fmt.Sprintf("conn %04d says hi", i))
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			if !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("conn %d: got %q", i, got)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Open != n || st.Accepted != n {
		t.Fatalf("Stats = %+v, want %d open and accepted", st, n)
	}
	for _, c := range conns {
		c.Close()
	}
	npWaitFor(t, 10*time.Second, "1000 OnClose", func() bool { return r.closes.Load() == n })
	if r.opens.Load() != n {
		t.Fatalf("opens = %d", r.opens.Load())
	}
	r.check(t)
}

// TestNetpollClose covers the ways a connection ends; each must give exactly
// one OnClose, after which writes report ErrClosed (checked in npRec).
func TestNetpollClose(t *testing.T) {
	f := func(name string, onData func(c *Conn, b []byte), client func(t *testing.T, c *net.TCPConn)) {
		t.Run(name, func(t *testing.T) {
			r := newNpRec(t)
			r.onData = onData
			e := startNetpoll(t, Config{}, r)
			c := dialNp(t, e)
			defer c.Close()
			client(t, c)
			var got *Conn
			select {
			case got = <-r.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("no OnClose")
			}
			time.Sleep(50 * time.Millisecond) // room for a second, wrong OnClose
			if n := r.closes.Load(); n != 1 {
				t.Fatalf("OnClose ran %d times", n)
			}
			if err := got.Write([]byte("late")); !errors.Is(err, ErrClosed) {
				t.Fatalf("Write after OnClose = %v", err)
			}
			got.Close() // harmless after the fact
			if st := e.Stats(); st.Open != 0 {
				t.Fatalf("Open = %d", st.Open)
			}
			r.check(t)
		})
	}
	expectEOF := func(t *testing.T, c *net.TCPConn, want string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read until EOF: %v", err)
		}
		if string(b) != want {
			t.Fatalf("read %q before EOF, want %q", b, want)
		}
	}
	f("peer closes", nil, func(t *testing.T, c *net.TCPConn) { c.Close() })
	f("peer resets", nil, func(t *testing.T, c *net.TCPConn) {
		c.SetLinger(0)
		c.Close()
	})
	f("peer sends then closes", nil, func(t *testing.T, c *net.TCPConn) {
		c.Write([]byte("last words"))
		c.Close()
	})
	f("server Close in OnData", func(c *Conn, b []byte) { c.Close() }, func(t *testing.T, c *net.TCPConn) {
		c.Write([]byte("bye"))
		expectEOF(t, c, "")
	})
	f("server CloseAfter then peer closes", func(c *Conn, b []byte) {
		c.CloseAfter([]byte("goodbye"))
	}, func(t *testing.T, c *net.TCPConn) {
		c.Write([]byte("bye"))
		expectEOF(t, c, "goodbye")
		c.Close()
	})
	f("server Close from another goroutine", func(c *Conn, b []byte) {
		go func() { time.Sleep(10 * time.Millisecond); c.Close() }()
	}, func(t *testing.T, c *net.TCPConn) {
		c.Write([]byte("x"))
		expectEOF(t, c, "")
	})
}

// TestNetpollSlowReader: a client that never reads fills its socket; the
// server's writes queue, never block, and end in ErrOverflow at the bound,
// while another connection's echo stays fast.
func TestNetpollSlowReader(t *testing.T) {
	const bound = 256 << 10
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, shared
	var (
		slowFd        atomic.Int64
		sawQueued     atomic.Int64
		overflowAfter atomic.Int64 // bytes accepted before ErrOverflow
		longestWrite  atomic.Int64
		onDataTook    atomic.Int64
		writerDone    = make(chan error, 1)
	)
	r := newNpRec(t)
	r.onData = func(c *Conn, b []byte) {
		if int64(c.Fd()) != slowFd.Load() {
			echoData(c, b)
			return
		}
		// Write into the slow connection from the OnRequest goroutine until
		// the bound refuses; nothing here may block.
		start := time.Now()
		accepted := 0
		var err error
		for i := 0; i < 2048 && err == nil; i++ { // 128 MiB at most
			t0 := time.Now()
			err = c.Write(chunk)
			if d := int64(time.Since(t0)); d > longestWrite.Load() {
				longestWrite.Store(d)
			}
			if err == nil {
				accepted += len(chunk)
				if q := c.Queued(); int64(q) > sawQueued.Load() {
					sawQueued.Store(int64(q))
				}
			}
		}
		onDataTook.Store(int64(time.Since(start)))
		overflowAfter.Store(int64(accepted))
		writerDone <- err
	}
	e := startNetpoll(t, Config{MaxOutbound: bound}, r)

	// The slow client shrinks its receive buffer so the kernel absorbs less.
	d := net.Dialer{Timeout: 5 * time.Second}
	slowC, err := d.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slowC.Close()
	slowC.(*net.TCPConn).SetReadBuffer(4096)
	npWaitFor(t, 5*time.Second, "slow conn open", func() bool { return r.opens.Load() == 1 })
	// Find the server side's fd: the only open Conn.
	e.table.each(func(c *Conn) { slowFd.Store(int64(c.Fd())) })

	fast := dialNp(t, e)
	defer fast.Close()
	npWaitFor(t, 5*time.Second, "fast conn open", func() bool { return r.opens.Load() == 2 })

	if _, err := slowC.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-writerDone:
		if !errors.Is(err, ErrOverflow) {
			t.Fatalf("writer ended with %v, want ErrOverflow", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("writer in OnData did not finish: a Write blocked")
	}
	t.Logf("slow reader: %d bytes taken (kernel + queue) before ErrOverflow; max queued %d; OnData took %v; longest Write %v",
		overflowAfter.Load(), sawQueued.Load(), time.Duration(onDataTook.Load()), time.Duration(longestWrite.Load()))
	if sawQueued.Load() == 0 || sawQueued.Load() > bound {
		t.Fatalf("max queued = %d, want in (0, %d]", sawQueued.Load(), bound)
	}
	if took := time.Duration(onDataTook.Load()); took > 2*time.Second {
		t.Fatalf("OnData writing into a full socket took %v: writes blocked", took)
	}
	st := e.Stats()
	// The overflow drops the queue except the unsent rest of the one chunk
	// already partly on the wire (kept so the stream stays whole).
	if st.WouldBlock == 0 || st.Overflows != 1 || st.QueuedBytes >= int64(len(chunk)) {
		t.Fatalf("Stats = %+v, want WouldBlock > 0, Overflows 1, QueuedBytes < one chunk (dropped on overflow)", st)
	}

	// The slow socket is still full; another connection's echo is unaffected.
	buf := make([]byte, 64)
	var worst time.Duration
	for i := 0; i < 100; i++ {
		msg := []byte(fmt.Sprintf("ping %03d", i))
		t0 := time.Now()
		fast.Write(msg)
		fast.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(fast, buf[:len(msg)]); err != nil {
			t.Fatalf("fast echo %d: %v", i, err)
		}
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if !bytes.Equal(buf[:len(msg)], msg) {
			t.Fatalf("fast echo %d mismatch", i)
		}
	}
	t.Logf("fast connection: worst echo round trip %v over 100", worst)
	if worst > time.Second {
		t.Fatalf("fast echo took %v while another socket was full", worst)
	}
	r.check(t)
}

// TestNetpollPartialReads: a random message stream written in random-size
// chunks arrives byte-exact through OnData, for several connections at once,
// including bytes that arrive together with the FIN. OnData scribbles over b
// after copying it, as an unmasking handler would.
func TestNetpollPartialReads(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			const conns = 8
			var mu sync.Mutex
			got := map[*Conn]*bytes.Buffer{}
			r := newNpRec(t)
			r.onOpen = func(c *Conn) {
				mu.Lock()
				got[c] = new(bytes.Buffer)
				mu.Unlock()
			}
			r.onData = func(c *Conn, b []byte) {
				mu.Lock()
				got[c].Write(b)
				mu.Unlock()
				for i := range b {
					b[i] ^= 0xff
				}
			}
			e := startNetpoll(t, Config{}, r)
			sent := make([][]byte, conns)
			var wg sync.WaitGroup
			for i := 0; i < conns; i++ {
				rng := rand.New(rand.NewSource(seed*1000 + int64(i)))
				var stream []byte
				for len(stream) < 200<<10 {
					m := make([]byte, 1+rng.Intn(3000))
					rng.Read(m)
					stream = append(stream, m...)
				}
				sent[i] = stream
				c := dialNp(t, e)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					for rest := stream; len(rest) > 0; {
						k := 1 + rng.Intn(5000)
						if rng.Intn(4) == 0 {
							k = 1 + rng.Intn(8)
						}
						k = min(k, len(rest))
						if _, err := c.Write(rest[:k]); err != nil {
							t.Error(err)
							return
						}
						rest = rest[k:]
						if rng.Intn(16) == 0 {
							time.Sleep(time.Duration(rng.Intn(500)) * time.Microsecond)
						}
					}
				}()
			}
			wg.Wait()
			npWaitFor(t, 10*time.Second, "all OnClose", func() bool { return r.closes.Load() == conns })
			r.check(t)
			mu.Lock()
			defer mu.Unlock()
			var streams [][]byte
			for _, b := range got {
				streams = append(streams, b.Bytes())
			}
			// Match by content: which server Conn belongs to which client
			// is not known.
			for i, want := range sent {
				found := false
				for _, s := range streams {
					if bytes.Equal(s, want) {
						found = true
						break
					}
				}
				if !found {
					t.Fatalf("stream %d (%d bytes) did not arrive byte-exact", i, len(want))
				}
			}
		})
	}
}

// stableGoroutines waits for the goroutine count to settle at or below max
// and returns it.
func stableGoroutines(t *testing.T, max int, d time.Duration) int {
	t.Helper()
	end := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= max || time.Now().After(end) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// warmNetpoll starts netpoll's process-wide pollers, so goroutine counts
// taken afterwards include them.
func warmNetpoll(t *testing.T) {
	r := newNpRec(t)
	e := startNetpoll(t, Config{}, r)
	c := dialNp(t, e)
	npWaitFor(t, 5*time.Second, "warm-up open", func() bool { return r.opens.Load() == 1 })
	c.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNetpollCloseNoLeak(t *testing.T) {
	warmNetpoll(t)
	base := stableGoroutines(t, 0, 200*time.Millisecond)
	const n = 300
	r := newNpRec(t)
	r.onData = echoData
	e := startNetpoll(t, Config{}, r)
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conns[i] = dialNp(t, e)
		conns[i].Write([]byte("hi"))
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c, o := r.closes.Load(), r.opens.Load(); c != n || o != n {
		t.Fatalf("after Close: %d OnOpen, %d OnClose, want %d each", o, c, n)
	}
	if st := e.Stats(); st.Open != 0 {
		t.Fatalf("Open = %d after Close", st.Open)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("client read data after engine Close, want EOF or reset")
		}
		c.Close()
	}
	if _, err := net.DialTimeout("tcp", e.Addr().String(), time.Second); err == nil {
		t.Fatal("dial succeeded after Close")
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := stableGoroutines(t, base, 5*time.Second); got > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before the engine, %d after Close\n%s", base, got, buf[:runtime.Stack(buf, true)])
	}
	r.check(t)
}

func TestNetpollStopAccepting(t *testing.T) {
	r := newNpRec(t)
	r.onData = echoData
	e := startNetpoll(t, Config{}, r)
	c := dialNp(t, e)
	defer c.Close()
	// A connection still in the accept queue is reset by StopAccepting;
	// this one must be established first.
	npWaitFor(t, 5*time.Second, "OnOpen", func() bool { return r.opens.Load() == 1 })
	checkStopAccepting(t, e, c)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if r.closes.Load() != 1 {
		t.Fatalf("OnClose ran %d times", r.closes.Load())
	}
	r.check(t)
}

// TestNetpollGoroutinesFlat: 5,000 open connections cost no goroutines.
func TestNetpollGoroutinesFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections")
	}
	warmNetpoll(t)
	r := newNpRec(t)
	r.onData = echoData
	e := startNetpoll(t, Config{}, r)
	base := stableGoroutines(t, 0, 200*time.Millisecond)
	f := func(n int) int {
		t.Helper()
		conns := make([]*net.TCPConn, 0, n)
		for i := 0; i < n; i++ {
			c := dialNp(t, e)
			c.Write([]byte{'x'})
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		}
		npWaitFor(t, 10*time.Second, "opens", func() bool { return e.Stats().Open == int64(n) })
		g := stableGoroutines(t, base+8, 3*time.Second)
		for _, c := range conns {
			c.Close()
		}
		npWaitFor(t, 10*time.Second, "closes", func() bool { return e.Stats().Open == 0 })
		return g
	}
	g100 := f(100)
	g5000 := f(5000)
	t.Logf("goroutines: %d idle engine, %d with 100 conns, %d with 5000 conns", base, g100, g5000)
	if g5000 > base+8 {
		t.Fatalf("goroutines grew with connections: %d idle, %d with 5000 conns", base, g5000)
	}
	r.check(t)
}

// TestNetpollQueuedFlush: bytes queued on a full socket are flushed in order
// by the engine's write waiter as the client drains them.
func TestNetpollQueuedFlush(t *testing.T) {
	const chunks, size = 160, 64 << 10 // 10 MiB, more than loopback buffers hold
	data := make([][]byte, chunks)
	rng := rand.New(rand.NewSource(7))
	var want []byte
	for i := range data {
		data[i] = make([]byte, size)
		rng.Read(data[i])
		want = append(want, data[i]...)
	}
	r := newNpRec(t)
	writeErr := make(chan error, 1)
	r.onData = func(c *Conn, b []byte) {
		var err error
		for i := 0; i < chunks && err == nil; i += 2 {
			if i%4 == 0 {
				err = c.Writev(data[i : i+2])
			} else {
				err = c.Write(data[i])
				if err == nil {
					err = c.WriteCopy(data[i+1])
				}
			}
		}
		writeErr <- err
	}
	e := startNetpoll(t, Config{MaxOutbound: chunks * size}, r)
	c := dialNp(t, e)
	defer c.Close()
	c.Write([]byte("send"))
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	queued := e.Stats().QueuedBytes
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for off := 0; off < len(got); {
		n, err := c.Read(got[off:min(off+4096, len(got))])
		if err != nil {
			t.Fatalf("after %d bytes: %v", off, err)
		}
		off += n
		if off%(1<<20) < 4096 {
			time.Sleep(time.Millisecond) // drain slowly: the queue must wait for EPOLLOUT
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("queued bytes arrived out of order or corrupted")
	}
	st := e.Stats()
	t.Logf("queued right after the writes: %d bytes; stats %+v", queued, st)
	if queued == 0 || st.WouldBlock == 0 || st.QueuedBytes != 0 || st.BytesOut != uint64(len(want)) {
		t.Fatalf("want bytes queued then fully flushed; queued %d, stats %+v", queued, st)
	}
	r.check(t)
}

// BenchmarkNetpollEcho is one 64-byte echo round trip over loopback per op
// (client and server in this process; allocations of both are counted).
func BenchmarkNetpollEcho(b *testing.B) {
	r := newNpRec(b)
	r.onData = echoData
	e := startNetpoll(b, Config{}, r)
	c := dialNp(b, e)
	defer c.Close()
	msg := bytes.Repeat([]byte{'m'}, 64)
	buf := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	Sink = buf[0]
}
