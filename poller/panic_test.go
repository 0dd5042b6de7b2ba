//go:build linux

package poller

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// panicky echoes, and panics in the callback a test asks for: OnOpen of
// the next connection, OnData of a "boom" message, OnClose of the next
// connection to close.
type panicky struct {
	onOpen, onClose atomic.Bool
	mu              sync.Mutex
	inode           map[*Conn]uint64 // socket inode at OnOpen
	closed          map[*Conn]bool
}

func (h *panicky) OnOpen(c *Conn) {
	var st unix.Stat_t
	_ = unix.Fstat(c.Fd(), &st)
	h.mu.Lock()
	h.inode[c] = st.Ino
	h.mu.Unlock()
	if h.onOpen.CompareAndSwap(true, false) {
		panic("open boom")
	}
}

func (h *panicky) OnData(c *Conn, b []byte) {
	if bytes.HasPrefix(b, []byte("boom")) {
		panic("data boom")
	}
	_ = c.WriteCopy(b)
}

func (h *panicky) OnClose(c *Conn, err error) {
	h.mu.Lock()
	h.closed[c] = true
	h.mu.Unlock()
	if h.onClose.CompareAndSwap(true, false) {
		panic(fmt.Errorf("close boom"))
	}
}

type panicReport struct {
	c     *Conn
	v     any
	stack string
}

// TestHandlerPanicContained: on both engines, a panic in OnOpen, OnData or
// OnClose of one connection closes that connection (its peer sees the end
// of the stream), reaches Config.OnPanic with the value and the stack,
// releases the descriptor, and every other connection keeps echoing.
func TestHandlerPanicContained(t *testing.T) {
	for _, name := range []string{"epoll", "netpoll"} {
		t.Run(name, func(t *testing.T) {
			h := &panicky{inode: map[*Conn]uint64{}, closed: map[*Conn]bool{}}
			reports := make(chan panicReport, 8)
			cfg := Config{Addr: "127.0.0.1:0", Loops: 2, OnPanic: func(c *Conn, v any, stack []byte) {
				reports <- panicReport{c, v, string(stack)}
			}}
			eng, err := New(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Serve(h); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			addr := eng.Addr().String()
			dial := func() net.Conn {
				t.Helper()
				nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { nc.Close() })
				return nc
			}
			bystanders := make([]net.Conn, 4)
			for i := range bystanders {
				bystanders[i] = dial()
			}
			stillEcho := func(round int) {
				t.Helper()
				for i, nc := range bystanders {
					want := fmt.Sprintf("round %d conn %d", round, i)
					nc.Write([]byte(want))
					got := make([]byte, len(want))
					nc.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.ReadFull(nc, got); err != nil || string(got) != want {
						t.Fatalf("bystander %d after panic %d: %q %v", i, round, got, err)
					}
				}
			}
			expect := func(what string) panicReport {
				t.Helper()
				select {
				case r := <-reports:
					if !strings.Contains(fmt.Sprint(r.v), what) || !strings.Contains(r.stack, "panicky") {
						t.Fatalf("OnPanic got %v with stack:\n%s", r.v, r.stack)
					}
					return r
				case <-time.After(5 * time.Second):
					t.Fatalf("no OnPanic for %q", what)
				}
				return panicReport{}
			}
			endOfStream := func(nc net.Conn) {
				t.Helper()
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := nc.Read(make([]byte, 64)); n != 0 || err == nil || isTimeout(err) {
					t.Fatalf("peer of a panicking connection: read %d, %v; want the stream ended", n, err)
				}
			}
			stillEcho(0)

			victim := dial()
			victim.Write([]byte("boom"))
			expect("data boom")
			endOfStream(victim)
			stillEcho(1)

			h.onOpen.Store(true)
			endOfStream(dial())
			expect("open boom")
			stillEcho(2)

			h.onClose.Store(true)
			last := dial()
			stillEcho(3) // last is open by now (OnOpen ran before its echo could)
			last.Close()
			r := expect("close boom")
			h.mu.Lock()
			ino := h.inode[r.c]
			h.mu.Unlock()
			fd := r.c.Fd()
			released := func() bool {
				var st unix.Stat_t
				return unix.Fstat(fd, &st) != nil || st.Ino != ino
			}
			end := time.Now().Add(5 * time.Second)
			for !released() && time.Now().Before(end) {
				time.Sleep(time.Millisecond)
			}
			if !released() {
				t.Fatalf("descriptor %d still holds the socket whose OnClose panicked", fd)
			}
			stillEcho(4)
			if n := eng.Stats().Panics; n != 3 {
				t.Fatalf("Stats.Panics = %d, want 3", n)
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestHandlerPanicLoggedWithoutHook: without Config.OnPanic the engine
// logs the panic with its stack, once, and closes the connection.
func TestHandlerPanicLoggedWithoutHook(t *testing.T) {
	var buf syncBuffer
	h := &panicky{inode: map[*Conn]uint64{}, closed: map[*Conn]bool{}}
	e := startEpoll(t, defaultAcceptMode, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))}, h)
	nc, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("boom"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 8)); n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("read %d, %v; want the stream ended", n, err)
	}
	epWait(t, "OnClose", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.closed) == 1
	})
	out := buf.String()
	if strings.Count(out, "panic in a connection handler") != 1 || !strings.Contains(out, "data boom") || !strings.Contains(out, "panicky") {
		t.Fatalf("log:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type nopHandler struct{}

func (nopHandler) OnOpen(*Conn)         {}
func (nopHandler) OnData(*Conn, []byte) {}
func (nopHandler) OnClose(*Conn, error) {}

// BenchmarkGuardOverhead isolates what containing panics costs per
// callback: the same interface call with and without guard.data.
func BenchmarkGuardOverhead(b *testing.B) {
	c := newConn(0, -1, false, 0)
	buf := make([]byte, 64)
	g := &guard{h: nopHandler{}}
	b.Run("direct", func(b *testing.B) {
		h := g.h
		for i := 0; i < b.N; i++ {
			h.OnData(c, buf)
		}
	})
	b.Run("guarded", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			g.data(c, buf)
		}
	})
}
