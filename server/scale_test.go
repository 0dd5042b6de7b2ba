package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"bytes"
	"net"
	"runtime"
	"testing"
	"time"
)

// Holding 5,000 WebSocket connections costs no goroutines: the count with
// 5,000 open equals the count with 10 open (both engines). Client sockets
// are plain net.Conns that are never read, so they add no goroutines either.
func TestGoroutinesDoNotGrowWithConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 sockets")
	}
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		var conns []net.Conn
		t.Cleanup(func() {
			for _, c := range conns {
				c.Close()
			}
		})
		req := []byte(wstest.UpgradeRequest("/ws"))
		buf := make([]byte, 512)
		open := func(n int) {
			for i := 0; i < n; i++ {
				c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", len(conns), err)
				}
				conns = append(conns, c)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(req); err != nil {
					t.Fatal(err)
				}
				got := 0
				for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
					k, err := c.Read(buf[got:])
					if err != nil {
						t.Fatalf("conn %d: %v", len(conns), err)
					}
					got += k
				}
				if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101")) {
					t.Fatalf("conn %d: %q", len(conns), buf[:got])
				}
			}
		}
		settle := func() int {
			// netpoll's task pool lets idle workers go; give it a moment.
			var n int
			for i := 0; i < 50; i++ {
				time.Sleep(20 * time.Millisecond)
				runtime.GC()
				n = runtime.NumGoroutine()
			}
			return n
		}
		open(10)
		base := settle()
		open(4990)
		wstest.WaitFor(t, "5,000 open", func() bool { return ts.srv.Open() == 5000 })
		// Wait for the count to come back down (netpoll's idle task workers
		// exit on their own); it must, within the deadline.
		after := 0
		wstest.WaitFor(t, "goroutines back to the 10-connection count", func() bool {
			runtime.GC()
			after = runtime.NumGoroutine()
			return after <= base+2
		})
		t.Logf("%s: goroutines with 10 connections %d, with 5,000 %d", engine, base, after)
	})
}
