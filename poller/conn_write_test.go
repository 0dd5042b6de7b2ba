//go:build linux

package poller

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sink keeps benchmark results alive.
var Sink any

func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 128 {
		t.Fatalf("Conn is %d bytes, want <= 128", s)
	} else {
		t.Logf("sizeof(Conn) = %d bytes", s)
	}
}

// pair is a non-blocking AF_UNIX stream socketpair with a small send buffer
// on a, so that a writer meets EAGAIN quickly.
// tcpPair is a non-blocking loopback TCP connection (a writes, b reads);
// unlike AF_UNIX, TCP accepts part of a write when its buffer is nearly full.
func tcpPair(t testing.TB) (a, b int) {
	t.Helper()
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(ln)
	a, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10)
	if err := unix.Connect(a, sa); err != nil {
		t.Fatal(err)
	}
	b, _, err = unix.Accept4(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(b, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<10)
	if err := unix.SetNonblock(a, true); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func pair(t testing.TB) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	return fds[0], fds[1]
}

// pump plays the engine's write-readiness role for one Conn: it waits on
// its own epoll and calls onWritable on EPOLLOUT.
type pump struct {
	epfd int
	stop atomic.Bool
	done chan struct{}
}

func newPumpConn(t testing.TB, fd int, registered bool, maxOut int) (*Conn, *pump) {
	t.Helper()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(fd, epfd, registered, maxOut)
	if registered {
		ev := unix.EpollEvent{Events: inEvents, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			t.Fatal(err)
		}
	}
	p := &pump{epfd: epfd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var evs [8]unix.EpollEvent
		for !p.stop.Load() {
			n, err := unix.EpollWait(epfd, evs[:], 5)
			if err != nil && err != unix.EINTR {
				return
			}
			for i := 0; i < n; i++ {
				if evs[i].Events&unix.EPOLLOUT != 0 {
					c.onWritable()
				}
			}
			if registered && n > 0 && evs[0].Events&unix.EPOLLOUT == 0 {
				time.Sleep(time.Millisecond) // level-triggered input we do not consume
			}
		}
	}()
	t.Cleanup(func() {
		p.stop.Store(true)
		<-p.done
		unix.Close(epfd)
	})
	return c, p
}

// readAll reads from a non-blocking fd until it has want bytes or EOF.
func readN(t testing.TB, fd int, want int, deadline time.Duration) []byte {
	t.Helper()
	out := make([]byte, 0, want)
	buf := make([]byte, 4096)
	end := time.Now().Add(deadline)
	for len(out) < want {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
			continue
		}
		if n == 0 && err == nil {
			break
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			t.Fatalf("read: %v", err)
		}
		if time.Now().After(end) {
			t.Fatalf("read %d of %d bytes before timeout", len(out), want)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return out
}

// expectEOF waits for EOF on a non-blocking fd.
func expectEOF(t testing.TB, fd int) {
	t.Helper()
	var b [64]byte
	end := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.Read(fd, b[:])
		if n == 0 && err == nil {
			return
		}
		if n > 0 {
			t.Fatalf("want EOF, got %d more bytes", n)
		}
		if time.Now().After(end) {
			t.Fatalf("no EOF: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// drainEOF reads and discards until EOF.
func drainEOF(t testing.TB, fd int) {
	t.Helper()
	var b [4096]byte
	end := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.Read(fd, b[:])
		if n == 0 && err == nil {
			return
		}
		if n > 0 {
			continue
		}
		if time.Now().After(end) {
			t.Fatalf("no EOF: %v", err)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func msg(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}

// TestWriteQueueDrainsInOrder fills the socket while the peer does not read,
// so that Write, Writev and WriteCopy queue, then lets the peer read and
// checks the stream byte for byte, in both pollfd modes.
func TestWriteQueueDrainsInOrder(t *testing.T) {
	for _, registered := range []bool{true, false} {
		name := "netpoll-oneshot"
		if registered {
			name = "epoll-registered"
		}
		t.Run(name, func(t *testing.T) {
			a, b := pair(t)
			defer unix.Close(a)
			defer unix.Close(b)
			c, _ := newPumpConn(t, a, registered, 1<<20)
			var want bytes.Buffer
			scratch := make([]byte, 700)
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 300; i++ {
				switch i % 3 {
				case 0:
					m := msg(i, 1+rng.Intn(900))
					want.Write(m)
					if err := c.Write(m); err != nil {
						t.Fatal(err)
					}
				case 1:
					bs := [][]byte{msg(i, 2), {}, msg(i+1, 1+rng.Intn(300)), msg(i+2, 17)}
					for _, m := range bs {
						want.Write(m)
					}
					if err := c.Writev(bs); err != nil {
						t.Fatal(err)
					}
				case 2:
					m := scratch[:1+rng.Intn(len(scratch))]
					copy(m, msg(i, len(m)))
					want.Write(m)
					if err := c.WriteCopy(m); err != nil {
						t.Fatal(err)
					}
					for j := range m { // the caller may reuse its buffer at once
						m[j] = 0xEE
					}
				}
			}
			if c.Queued() == 0 {
				t.Fatal("nothing queued although the peer never read")
			}
			got := readN(t, b, want.Len(), 10*time.Second)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("stream differs (got %d bytes, want %d)", len(got), want.Len())
			}
			if q := c.Queued(); q != 0 {
				t.Fatalf("Queued()=%d after drain", q)
			}
		})
	}
}

func TestOverflowDropsQueue(t *testing.T) {
	a, b := pair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	const bound = 64 << 10
	c, _ := newPumpConn(t, a, true, bound)
	var before Stats
	defaultCounters.fold(&before)
	m := msg(1, 1000)
	var err error
	total := 0
	for i := 0; i < 10000 && err == nil; i++ {
		if err = c.Write(m); err == nil {
			total += len(m)
		}
	}
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("err=%v, want ErrOverflow", err)
	}
	if q := c.Queued(); q != 0 {
		t.Fatalf("Queued()=%d after overflow, want 0", q)
	}
	if total < bound {
		t.Fatalf("overflowed after %d bytes, bound %d", total, bound)
	}
	var after Stats
	defaultCounters.fold(&after)
	if after.Overflows <= before.Overflows {
		t.Fatal("overflow not counted")
	}
	// Until the caller closes, every write is refused, even one that
	// would fit now: a later frame must never follow dropped ones.
	if err := c.Write(m[:1]); !errors.Is(err, ErrOverflow) {
		t.Fatalf("write after overflow: %v, want ErrOverflow", err)
	}
	if err := c.Writev([][]byte{m[:1]}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("writev after overflow: %v, want ErrOverflow", err)
	}
	// The caller's next step: a close frame and half-close.
	c.CloseAfter([]byte("bye"))
	if err := c.Write(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after CloseAfter: %v", err)
	}
}

// TestCloseAfterHalfCloses queues data, asks CloseAfter, and checks the peer
// reads everything, the last bytes, then EOF.
func TestCloseAfterHalfCloses(t *testing.T) {
	for _, registered := range []bool{true, false} {
		a, b := pair(t)
		c, _ := newPumpConn(t, a, registered, 1<<20)
		var want bytes.Buffer
		for i := 0; i < 100; i++ {
			m := msg(i, 500)
			want.Write(m)
			if err := c.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		last := []byte("\x88\x02\x03\xe8")
		want.Write(last)
		c.CloseAfter(last)
		c.CloseAfter([]byte("ignored"))
		if err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("write after CloseAfter: %v", err)
		}
		got := readN(t, b, want.Len(), 10*time.Second)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("registered=%v: stream differs", registered)
		}
		expectEOF(t, b)
		if !c.markClosed() || c.markClosed() {
			t.Fatal("markClosed must be true exactly once")
		}
		unix.Close(a)
		unix.Close(b)
	}
}

func TestCloseIdempotent(t *testing.T) {
	a, b := pair(t)
	defer unix.Close(b)
	c, _ := newPumpConn(t, a, true, 0)
	c.Close()
	c.Close()
	if err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := c.Writev([][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("writev after Close: %v", err)
	}
	c.CloseAfter([]byte("x"))
	expectEOF(t, b)
	if !c.markClosed() {
		t.Fatal("first markClosed false")
	}
	c.Close()
	if c.markClosed() {
		t.Fatal("second markClosed true")
	}
	unix.Close(a)
}

// TestCloseRacesWriters closes from one goroutine while others write, then
// plays the engine: markClosed, close(2), and a new socket that takes the
// same descriptor number must receive nothing from the old writers.
func TestCloseRacesWriters(t *testing.T) {
	for round := 0; round < 20; round++ {
		a, b := pair(t)
		c, _ := newPumpConn(t, a, round%2 == 0, 32<<10)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		m := msg(round, 300)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				bs := [][]byte{m[:10], m[10:]}
				for {
					select {
					case <-stop:
						return
					default:
					}
					var err error
					switch w % 3 {
					case 0:
						err = c.Write(m)
					case 1:
						err = c.Writev(bs)
					default:
						err = c.WriteCopy(m)
					}
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrOverflow) {
						t.Errorf("write: %v", err)
						return
					}
				}
			}(w)
		}
		time.Sleep(2 * time.Millisecond)
		go c.Close()
		go c.Close()
		drainEOF(t, b)
		if !c.markClosed() {
			t.Fatal("markClosed false")
		}
		unix.Close(a)
		// Reuse the descriptor number while the writers keep going.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		close(stop)
		wg.Wait()
		for _, fd := range fds {
			var buf [16]byte
			if n, _ := unix.Read(fd, buf[:]); n > 0 {
				t.Fatalf("a write reached a reused descriptor (%d bytes)", n)
			}
			unix.Close(fd)
		}
		unix.Close(b)
		if q := c.Queued(); q != 0 {
			t.Fatalf("Queued()=%d after close", q)
		}
	}
}

// TestWriteErrorShutsDown: a write to a socket whose peer is gone reports
// ErrClosed and shuts the socket down.
func TestWriteErrorShutsDown(t *testing.T) {
	a, b := pair(t)
	defer unix.Close(a)
	c, _ := newPumpConn(t, a, true, 0)
	unix.Close(b)
	err := c.Write([]byte("hello"))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err=%v, want ErrClosed", err)
	}
	if err := c.Write([]byte("again")); !errors.Is(err, ErrClosed) {
		t.Fatalf("second write: %v", err)
	}
}

func TestTestConnDevNull(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewTestConn(int(f.Fd()), 0)
	m := msg(0, 64)
	if err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	if err := c.Writev([][]byte{m, m}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteCopy(m); err != nil {
		t.Fatal(err)
	}
	if c.Queued() != 0 {
		t.Fatal("queued on /dev/null")
	}
	c.Close()
	if err := c.Write(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestTestConnQueuesWithoutEngine: a TestConn over a full socket queues and
// overflows without an engine.
func TestTestConnQueuesWithoutEngine(t *testing.T) {
	a, b := pair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	c := NewTestConn(a, 16<<10)
	m := msg(0, 1024)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = c.Write(m)
	}
	// Only the unsent rest of a slice already partly on the wire may stay.
	if !errors.Is(err, ErrOverflow) || c.Queued() >= len(m) {
		t.Fatalf("err=%v queued=%d", err, c.Queued())
	}
}

// TestOverflowKeepsSliceBoundary: after an overflow the peer's stream is
// made of whole slices, and a CloseAfter marker arrives intact behind them.
func TestOverflowKeepsSliceBoundary(t *testing.T) {
	for _, vec := range []bool{false, true} {
		a, b := tcpPair(t)
		c := NewTestConn(a, 64<<10)
		const size = 10007 // prime: the kernel's accepts cut it mid-slice
		m := make([]byte, size)
		for i := range m {
			m[i] = byte('a' + i%26)
		}
		var err error
		for i := 0; i < 100000 && err == nil; i++ {
			if vec {
				err = c.Writev([][]byte{m, m})
			} else {
				err = c.Write(m)
			}
		}
		if !errors.Is(err, ErrOverflow) {
			t.Fatalf("no overflow: %v", err)
		}
		marker := []byte("<close>")
		c.CloseAfter(marker)
		// No engine drives this TestConn: flush by hand while reading.
		var got []byte
		buf := make([]byte, 64<<10)
		for {
			c.onWritable()
			n, rerr := unix.Read(b, buf)
			if n > 0 {
				got = append(got, buf[:n]...)
				continue
			}
			if n == 0 || (rerr != nil && rerr != unix.EAGAIN) {
				break
			}
			if c.Queued() == 0 && len(got) > 0 && string(got[len(got)-len(marker):]) == string(marker) {
				break
			}
		}
		body := got[:len(got)-len(marker)]
		if string(got[len(got)-len(marker):]) != string(marker) || len(body)%size != 0 {
			t.Fatalf("vec=%v: stream of %d bytes is not whole slices + marker (tail %q)", vec, len(got), got[max(0, len(got)-20):])
		}
		for i := 0; i < len(body); i += size {
			if string(body[i:i+size]) != string(m) {
				t.Fatalf("vec=%v: slice %d corrupted", vec, i/size)
			}
		}
		unix.Close(a)
		unix.Close(b)
	}
}

func devNullConn(t testing.TB) *Conn {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return NewTestConn(int(f.Fd()), 0)
}

func TestWriteAllocs(t *testing.T) {
	c := devNullConn(t)
	m := msg(0, 64)
	bs := make([][]byte, 8)
	for i := range bs {
		bs[i] = msg(i, 64)
	}
	f := func(name string, fn func()) {
		t.Helper()
		fn() // warm up
		if n := testing.AllocsPerRun(1000, fn); n > 0 {
			t.Errorf("%s: %.1f allocs per call, want 0 (something escapes: check the iovec array and errno handling)", name, n)
		}
	}
	f("Write", func() { _ = c.Write(m) })
	f("Writev", func() { _ = c.Writev(bs) })
	f("WriteCopy", func() { _ = c.WriteCopy(m) })
}

func BenchmarkWrite64DevNull(b *testing.B) {
	c := devNullConn(b)
	m := msg(0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	var err error
	for i := 0; i < b.N; i++ {
		err = c.Write(m)
	}
	Sink = err
}

func BenchmarkWritev8DevNull(b *testing.B) {
	c := devNullConn(b)
	bs := make([][]byte, 8)
	for i := range bs {
		bs[i] = msg(i, 64)
	}
	b.ReportAllocs()
	b.SetBytes(8 * 64)
	var err error
	for i := 0; i < b.N; i++ {
		err = c.Writev(bs)
	}
	Sink = err
}

// BenchmarkWriteQueued measures the queue-and-flush path over a socketpair
// whose peer drains in bulk.
func BenchmarkWriteQueued(b *testing.B) {
	a, p := pair(b)
	defer unix.Close(a)
	defer unix.Close(p)
	c, _ := newPumpConn(b, a, true, 64<<20)
	m := msg(0, 64)
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(p, buf)
			if n == 0 && err == nil || err != nil && err != unix.EAGAIN {
				close(done)
				return
			}
			if err == unix.EAGAIN {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	var err error
	for i := 0; i < b.N; i++ {
		if err = c.Write(m); err != nil {
			b.Fatal(err)
		}
	}
	Sink = err
	for c.Queued() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
	c.Close()
	<-done
}

var _ = io.EOF
