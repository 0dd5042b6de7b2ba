package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/server"
)

// A client that stops reading is closed with 1008 once its queue passes
// -max-outbound, while 50 others receive every message, in order.
func TestSlowConsumerClosedOthersUnaffected(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{
			eng: func(c *poller.Config) { c.MaxOutbound = 64 << 10 },
			// The stalled client reads only after the others are done, which
			// under -race takes longer than the default grace; past the grace
			// the server hard-closes, cutting whatever was still queued.
			srv: func(c *server.Config) { c.CloseGrace = 2 * time.Minute },
			// The clock stands still: on a loaded machine the run takes
			// minutes, and the stalled client (which sends nothing) would
			// otherwise be closed for a missed pong before it overflows.
			manualClock: true,
		})

		// The stalled client: a tiny receive window, and it never reads.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}}
		sc, err := d.DialContext(context.Background(), "tcp", ts.addr)
		must(t, err)
		stalled := wstest.Wrap(t, sc)
		t.Cleanup(func() { sc.Close() })
		stalled.Upgrade()
		stalled.SendJSON(jsonOp("sub", "feed", 1, nil))
		expectKV(t, stalled.NextJSON(), "op", "ack")

		const readers = 50
		payload := strings.Repeat("x", 4000)
		type result struct {
			n   int
			err error
		}
		results := make(chan result, readers)
		var delivered atomic.Int64 // by all readers together
		var ready sync.WaitGroup
		ready.Add(readers)
		for i := 0; i < readers; i++ {
			c, _, err := websocket.DefaultDialer.Dial(ts.url, nil)
			must(t, err)
			t.Cleanup(func() { c.Close() })
			go func() {
				c.WriteJSON(jsonOp("sub", "feed", 1, nil))
				var ack map[string]any
				c.ReadJSON(&ack)
				ready.Done()
				next := uint64(1)
				for {
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					var m struct {
						Off  uint64 `json:"off"`
						Data string `json:"data"`
					}
					if err := c.ReadJSON(&m); err != nil {
						results <- result{int(next - 1), err}
						return
					}
					if m.Off != next {
						results <- result{int(next - 1), fmt.Errorf("offset %d, want %d", m.Off, next)}
						return
					}
					if m.Data == "end" {
						results <- result{int(next), nil}
						return
					}
					delivered.Add(1)
					next++
				}
			}()
		}
		ready.Wait()

		// Publish in bursts of 20 (80 KB), each once the readers have the
		// last: the readers then never lag by more than what the kernel's
		// socket buffers hold, so only the stalled client can overflow.
		pub := wstest.Dial(t, ts.addr).Upgrade()
		sent := 0
		burst := func() {
			for i := 0; i < 20; i++ {
				pub.SendJSON(jsonOp("pub", "feed", nil, payload))
				sent++
			}
			wstest.WaitFor(t, "readers caught up", func() bool { return delivered.Load() >= int64(sent*readers) })
		}
		for sent < 10000 && ts.srv.Stats().SlowConsumers == 0 {
			burst()
		}
		if n := ts.srv.Stats().SlowConsumers; n != 1 {
			t.Fatalf("%d slow consumers after %d publishes of 4 KB, want exactly the stalled one", n, sent)
		}
		// Keep publishing after the eviction: the others must get it all.
		for i := 0; i < 10; i++ {
			burst()
		}
		pub.SendJSON(jsonOp("pub", "feed", nil, "end"))
		sent++
		for i := 0; i < readers; i++ {
			r := <-results
			if r.err != nil || r.n != sent {
				t.Fatalf("reader got %d of %d: %v", r.n, sent, r.err)
			}
		}
		// The stalled client, reading at last, finds whole frames with
		// contiguous offsets (nothing written after the dropped ones) and
		// then the 1008 close (the queue was dropped at a frame boundary).
		next := 1
		for {
			h, p := stalled.Next()
			if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
				continue // the real clock runs: a heartbeat may come first
			}
			if h.OpCode == ws.OpClose {
				if code, _ := ws.ParseCloseFrameData(p); code != 1008 {
					t.Fatalf("stalled client: close %d, want 1008", code)
				}
				break
			}
			var m struct {
				Off int `json:"off"`
			}
			must(t, json.Unmarshal(p, &m))
			if m.Off != next {
				t.Fatalf("stalled client: offset %d after %d: a hole in its stream", m.Off, next-1)
			}
			next++
		}
		t.Logf("stalled client received offsets 1..%d of %d, then 1008", next-1, sent)
	})
}
