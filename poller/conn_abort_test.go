//go:build linux

package poller

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// TCP states as /proc/net/tcp writes them.
const (
	tcpEstablished = 1
	tcpFinWait1    = 4
)

// tcpSocket is the kernel's view of the TCP socket from local port lport
// to remote port rport, if there is one.
func tcpSocket(t *testing.T, lport, rport int) (st, txQueue uint64, ok bool) {
	t.Helper()
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	socks, err := fs.NetTCP()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.LocalPort == uint64(lport) && s.RemPort == uint64(rport) {
			return s.St, s.TxQueue, true
		}
	}
	return 0, 0, false
}

// nonReader connects to addr with a 4 KiB receive buffer and never reads.
func nonReader(t *testing.T, addr string) (fd, port int) {
	t.Helper()
	sa, fam, err := resolveSockaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err = unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	lsa, _ := unix.Getsockname(fd)
	return fd, lsa.(*unix.SockaddrInet4).Port
}

// filler fills a connection's kernel send buffer and then its queue when
// it reads "fill", and hands the Conn over.
type filler struct {
	counter
	got chan *Conn
}

func (h *filler) OnData(c *Conn, b []byte) {
	chunk := make([]byte, 64<<10)
	for i := 0; i < 64 && c.Queued() < 256<<10; i++ {
		if err := c.Write(chunk); err != nil {
			break
		}
	}
	h.got <- c
}

// TestAbortResets (issue 9, clean teardown): a peer that never reads; the
// server fills the kernel's send buffer and its own queue. Closed the
// ordinary way, the server's socket outlives the descriptor in FIN-WAIT-1
// with its unsent bytes (the control: this is what the check detects).
// Aborted, no socket with unsent bytes remains once the engine has closed
// the descriptor, the peer's read ends in ECONNRESET, and Stats.Resets
// counts it. Both engines.
func TestAbortResets(t *testing.T) {
	for _, name := range []string{"epoll", "netpoll"} {
		for _, abort := range []bool{false, true} {
			how := "close"
			if abort {
				how = "abort"
			}
			t.Run(name+"/"+how, func(t *testing.T) {
				h := &filler{got: make(chan *Conn, 1)}
				eng, err := New(name, Config{Addr: "127.0.0.1:0", MaxOutbound: 8 << 20})
				if err != nil {
					t.Fatal(err)
				}
				if err := eng.Serve(h); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { eng.Close() })
				sport := eng.Addr().(*net.TCPAddr).Port
				fd, cport := nonReader(t, eng.Addr().String())
				if _, err := unix.Write(fd, []byte("fill")); err != nil {
					t.Fatal(err)
				}
				var c *Conn
				select {
				case c = <-h.got:
				case <-time.After(10 * time.Second):
					t.Fatal("handler never filled")
				}
				q, u := c.Queued(), c.Unsent()
				t.Logf("queued %d, unsent %d (kernel %d)", q, u, u-q)
				if q == 0 || u <= q {
					t.Fatalf("want bytes both queued and in the kernel: queued %d, unsent %d", q, u)
				}
				if st, tx, ok := tcpSocket(t, sport, cport); !ok || st != tcpEstablished || tx == 0 {
					t.Fatalf("server socket before teardown: state %d tx_queue %d found %v", st, tx, ok)
				}
				if abort {
					c.Abort()
					c.Abort() // idempotent, counted once
				} else {
					c.Close()
				}
				epWait(t, "OnClose", 5*time.Second, func() bool { return h.closes.Load() == 1 })
				// Close returns once the engine has released every
				// descriptor, so the kernel's view below is final.
				resets := eng.Stats().Resets
				if err := eng.Close(); err != nil {
					t.Fatal(err)
				}
				if c.Unsent() != 0 {
					t.Fatalf("Unsent %d after close", c.Unsent())
				}
				st, tx, ok := tcpSocket(t, sport, cport)
				t.Logf("server socket after teardown: found %v state %d tx_queue %d; Stats.Resets %d", ok, st, tx, resets)
				if !abort {
					if !ok || st != tcpFinWait1 || tx == 0 {
						t.Fatalf("control: a closed socket with unsent bytes should linger in FIN-WAIT-1 (found %v state %d tx %d)", ok, st, tx)
					}
					if resets != 0 {
						t.Fatalf("Stats.Resets %d without Abort", resets)
					}
					return
				}
				if ok && tx > 0 {
					t.Fatalf("after Abort a socket with %d unsent bytes remains (state %d)", tx, st)
				}
				if resets != 1 {
					t.Fatalf("Stats.Resets %d, want 1", resets)
				}
				tv := unix.Timeval{Sec: 5}
				_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
				buf := make([]byte, 64<<10)
				for {
					n, err := unix.Read(fd, buf)
					if n > 0 {
						continue
					}
					if !errors.Is(err, unix.ECONNRESET) {
						t.Fatalf("peer read %d, %v; want ECONNRESET", n, err)
					}
					break
				}
			})
		}
	}
}

// TestUnsentAllocs: Unsent is an ioctl, no allocation.
func TestUnsentAllocs(t *testing.T) {
	a, b := tcpPair(t)
	defer unix.Close(a)
	defer unix.Close(b)
	c := NewTestConn(a, 0)
	_ = c.Write([]byte("hello"))
	if n := c.Unsent(); n < 0 {
		t.Fatal(n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.Unsent() }); n != 0 {
		t.Fatalf("Unsent: %.1f allocs, want 0", n)
	}
}
