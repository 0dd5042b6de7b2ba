//go:build linux

package poller

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPauseRead: while a connection's reading is paused its bytes stay in
// the kernel (the loop is not called), and TCP backpressure reaches the
// peer once the buffers are full; ResumeRead delivers everything, in
// order; a peer that closes while paused is still noticed.
func TestPauseRead(t *testing.T) {
	r := newRecorder()
	var got atomic.Int64
	var conn atomic.Pointer[Conn]
	r.onOpen = func(c *Conn) { conn.Store(c); c.PauseRead() }
	r.onData = func(c *Conn, b []byte) { got.Add(int64(len(b))) }
	e := startEpoll(t, acceptReusePort, Config{}, r)
	nc, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	epWait(t, "open", 5*time.Second, func() bool { return conn.Load() != nil })
	c := conn.Load()
	if !c.Paused() {
		t.Fatal("not paused")
	}
	// Write until the kernel pushes back: the reader does not read.
	buf := make([]byte, 64<<10)
	sent := 0
	for {
		nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := nc.Write(buf)
		sent += n
		if err != nil {
			break // backpressure: the write cannot complete
		}
		if sent > 64<<20 {
			t.Fatal("64 MiB accepted by a paused connection: no backpressure")
		}
	}
	// Everything that arrived waits in the server socket's receive queue.
	inq, err := unix.IoctlGetInt(c.Fd(), unix.SIOCINQ)
	if err != nil || inq == 0 {
		t.Fatalf("receive queue %d (%v): the bytes should wait in the kernel", inq, err)
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("%d bytes handed to OnData while paused", n)
	}
	c.ResumeRead()
	epWait(t, "everything read after ResumeRead", 10*time.Second, func() bool { return got.Load() == int64(sent) })
	// Paused again, the peer closes: the connection still ends.
	c.PauseRead()
	nc.Close()
	epWait(t, "close noticed while paused", 10*time.Second, func() bool { return r.nClose.Load() == 1 })
	r.checkClosedOnce(t, false)
}
