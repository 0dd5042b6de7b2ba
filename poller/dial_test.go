//go:build linux

package poller

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEpollDial: a dial-only engine connects (from 127.0.0.2) to a
// listening engine, exchanges a message, and a dial to a closed port ends in
// OnClose without OnOpen.
func TestEpollDial(t *testing.T) {
	srv := newRecorder()
	srv.onData = echo
	se := startEpoll(t, defaultAcceptMode, Config{}, srv)

	cli := newRecorder()
	got := make(chan string, 1)
	cli.onOpen = func(c *Conn) { _ = c.Write([]byte("ping")) }
	cli.onData = func(c *Conn, b []byte) { got <- string(b); c.Close() }
	ce, err := NewEpoll(Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ce.Dial(se.Addr().String(), ""); err == nil {
		t.Fatal("Dial before Start succeeded")
	}
	if err := ce.Start(cli); err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	if err := ce.Dial(se.Addr().String(), "127.0.0.2:0"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "ping" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo over a dialled connection")
	}
	epWait(t, "client OnClose", 5*time.Second, func() bool { return cli.nClose.Load() == 1 })
	srv.mu.Lock()
	for c := range srv.opens {
		if sa, err := unix.Getpeername(c.Fd()); err == nil {
			if a := sa.(*unix.SockaddrInet4).Addr; a != [4]byte{127, 0, 0, 2} {
				t.Errorf("peer address %v, want 127.0.0.2", a)
			}
		}
	}
	srv.mu.Unlock()

	// A refused dial: a port nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if err := ce.Dial(dead, ""); err != nil {
		t.Fatal(err)
	}
	epWait(t, "OnClose for refused dial", 5*time.Second, func() bool { return cli.nClose.Load() == 2 })
	if cli.nOpen.Load() != 1 {
		t.Fatalf("OnOpen %d times, want 1", cli.nOpen.Load())
	}
	cli.mu.Lock()
	last := cli.errs[len(cli.errs)-1]
	cli.mu.Unlock()
	if !errors.Is(last, unix.ECONNREFUSED) {
		t.Fatalf("refused dial error %v", last)
	}
	cli.checkClosedOnce(t, true)
}

// TestEpollDialCloseInFlight: Close while dials are still connecting (to a
// listener whose accept queue is full, so SYNs are dropped) gives each of
// them one OnClose(ErrClosed), without OnOpen; the connected ones get
// OnOpen then OnClose. Every Dial is accounted for.
func TestEpollDialCloseInFlight(t *testing.T) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil { // never accepted: the queue fills at once
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	addr := sockaddrToTCP(sa).String()

	cli := newRecorder()
	ce, err := NewEpoll(Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := ce.Start(cli); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		if err := ce.Dial(addr, ""); err != nil {
			t.Fatal(err)
		}
	}
	inflight := func() int {
		ce.dialer.mu.Lock()
		defer ce.dialer.mu.Unlock()
		return len(ce.dialer.inflight)
	}
	epWait(t, "connected dials to open", 5*time.Second, func() bool {
		return cli.nOpen.Load()+int64(inflight()) == n && cli.nOpen.Load() > 0
	})
	if inflight() == 0 {
		t.Fatal("no dial left connecting; the test needs a full accept queue")
	}
	opened := cli.nOpen.Load()
	if err := ce.Close(); err != nil {
		t.Fatal(err)
	}
	if got := cli.nClose.Load(); got != n {
		t.Fatalf("OnClose %d times for %d dials (%d opened)", got, n, opened)
	}
	cli.mu.Lock()
	closedErr := 0
	for _, err := range cli.errs {
		if errors.Is(err, ErrClosed) {
			closedErr++
		}
	}
	cli.mu.Unlock()
	if closedErr != n-int(opened) {
		t.Fatalf("%d OnClose(ErrClosed) for %d dials still connecting", closedErr, n-int(opened))
	}
	cli.checkClosedOnce(t, true)
	if err := ce.Dial(addr, ""); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
}

// dialCounter is the client side of BenchmarkEpollDial: it keeps the open
// connections so the benchmark can reset them in batches.
type dialCounter struct {
	counter
	mu    sync.Mutex
	conns []*Conn
}

func (h *dialCounter) OnOpen(c *Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	h.counter.OnOpen(c)
}

// BenchmarkEpollDial measures the load generator's dial path (dial.go):
// batches of 500 non-blocking dials over loopback to an accepting engine,
// each batch waited for until every connection is open on the client side,
// then closed.
func BenchmarkEpollDial(b *testing.B) {
	srv := &counter{}
	se := startEpoll(b, defaultAcceptMode, Config{}, srv)
	cli := &dialCounter{}
	ce, err := NewEpoll(Config{Loops: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := ce.Start(cli); err != nil {
		b.Fatal(err)
	}
	defer ce.Close()
	addr := se.Addr().String()
	const batch = 500
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for i := 0; i < k; i++ {
			if err := ce.Dial(addr, ""); err != nil {
				b.Fatal(err)
			}
		}
		done += k
		end := time.Now().Add(10 * time.Second)
		for cli.opens.Load() < int64(done) {
			if time.Now().After(end) {
				b.Fatalf("%d of %d dials open", cli.opens.Load(), done)
			}
			runtime.Gosched()
		}
		cli.mu.Lock()
		cs := cli.conns
		cli.conns = nil
		cli.mu.Unlock()
		for _, c := range cs {
			// RST, not FIN: no TIME_WAIT piles up across batches.
			_ = unix.SetsockoptLinger(c.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			c.Close()
		}
		for cli.closes.Load() < int64(done) {
			if time.Now().After(end) {
				b.Fatalf("%d of %d dials closed", cli.closes.Load(), done)
			}
			runtime.Gosched()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dials/s")
}
