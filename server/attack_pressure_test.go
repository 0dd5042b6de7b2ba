package server_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// Pressure from hostile clients (issue 14): churn, subscription floods,
// the channel table.

// churn writes n sub/unsub pairs (ids on the unsubs only) on c, channel
// names from name(i), in batches, and waits for the last unsub's ack.
func churn(t *testing.T, c *wstest.Conn, n int, name func(i int) string) {
	t.Helper()
	var buf []byte
	for i := range n {
		buf = append(buf, wstest.Frame(ws.OpText, true, fmt.Appendf(nil, `{"op":"sub","ch":%q}`, name(i)))...)
		unsub := fmt.Appendf(nil, `{"op":"unsub","ch":%q}`, name(i))
		if i == n-1 {
			unsub = fmt.Appendf(nil, `{"op":"unsub","ch":%q,"id":"last"}`, name(i))
		}
		buf = append(buf, wstest.Frame(ws.OpText, true, unsub)...)
		if len(buf) > 64<<10 || i == n-1 {
			c.Write(buf)
			buf = buf[:0]
		}
	}
	for {
		if m := c.NextJSON(); m["id"] == "last" {
			return
		}
	}
}

// TestAttackSubscriptionFlood: 1,000 connections each ask for -max-
// subscriptions (16) distinct channels plus one more, against
// -max-channels 5,000: exactly 5,000 subs are acknowledged, every other
// gets err 429 (channel limit or subscription limit), the channel table
// never passes its bound, a connection that holds nothing can still join
// an existing channel, and once everyone leaves the table is empty.
func TestAttackSubscriptionFlood(t *testing.T) {
	const conns, perConn, maxCh = 1000, 16, 5000
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) {
		c.MaxSubscriptions, c.MaxChannels, c.HistorySize = perConn, maxCh, 0
	}})
	cs := make([]*wstest.Conn, conns)
	for i := range cs {
		cs[i] = wstest.Dial(t, ts.addr).Upgrade()
	}
	var acks, chLimit, subLimit atomic.Int64
	var held atomic.Pointer[string] // a channel some sub was acked on
	var wg sync.WaitGroup
	errs := make(chan string, conns)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for k := range perConn + 1 {
				buf = append(buf, wstest.Frame(ws.OpText, true, fmt.Appendf(nil, `{"op":"sub","ch":"f%d.%d","id":%d}`, i, k, k))...)
			}
			if _, err := c.C.Write(buf); err != nil {
				errs <- err.Error()
				return
			}
			for range perConn + 1 {
				var m struct {
					Op   string `json:"op"`
					Code int    `json:"code"`
					ID   int    `json:"id"`
					Msg  string `json:"msg"`
				}
				_, p := c.NextData()
				json.Unmarshal(p, &m)
				switch {
				case m.Op == "ack":
					acks.Add(1)
					name := fmt.Sprintf("f%d.%d", i, m.ID)
					held.CompareAndSwap(nil, &name)
				case m.Op == "err" && m.Code == 429 && m.ID == perConn:
					subLimit.Add(1)
				case m.Op == "err" && m.Code == 429:
					chLimit.Add(1)
				default:
					errs <- fmt.Sprintf("reply %s", p)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	ts.srv.Hub().Flush()
	if acks.Load() != maxCh || subLimit.Load() != conns || chLimit.Load() != conns*perConn-maxCh {
		t.Fatalf("acks %d, subscription limit %d, channel limit %d; want %d, %d, %d",
			acks.Load(), subLimit.Load(), chLimit.Load(), maxCh, conns, conns*perConn-maxCh)
	}
	if n := ts.srv.Hub().Stats().Channels; n != maxCh {
		t.Fatalf("channels %d, want %d", n, maxCh)
	}
	// Which 5,000 of the 16,000 channels exist depends on how the
	// connections' floods interleaved: join one that was acked.
	late := wstest.Dial(t, ts.addr).Upgrade()
	late.SendJSON(jsonOp("sub", *held.Load(), 1, nil))
	expectKV(t, late.NextJSON(), "op", "ack", "id", 1)
	late.SendJSON(jsonOp("sub", "brand-new", 2, nil))
	expectKV(t, late.NextJSON(), "op", "err", "id", 2, "code", 429)
	for _, c := range cs {
		c.C.Close()
	}
	late.C.Close()
	wstest.WaitFor(t, "the table empty", func() bool {
		ts.srv.Hub().Flush()
		st := ts.srv.Hub().Stats()
		return st.Channels == 0 && st.Subscriptions == 0 && st.Conns == 0
	})
}

// TestAttackChurnCost: one connection subscribes and unsubscribes 100,000
// times (history off, so every pair creates and ends a channel). Measured:
// the rate and the heap the server holds while the flood is queued; the
// test asserts only that it ends, bounded, with the table empty and a
// bystander served.
func TestAttackChurnCost(t *testing.T) {
	// A subscription's reservation comes back when the shard worker has
	// served the unsub's leave, so a flood that runs ahead of the worker
	// holds up to (its lag) reservations: at the default 1,024 it would be
	// answered err 429 (that limit is what bounds the lag), and a client
	// that never reads those replies is then a slow consumer (1008). This
	// test measures the churn itself, so the limit is the largest allowed.
	ts := startServer(t, "epoll", opts{srv: func(c *server.Config) { c.HistorySize, c.MaxSubscriptions = 0, 65535 }})
	bystander := wstest.Dial(t, ts.addr).Upgrade()
	c := wstest.Dial(t, ts.addr).Upgrade()
	c.Timeout = 60 * time.Second
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	start := time.Now()
	const n = 100000
	churn(t, c, n, func(i int) string { return fmt.Sprint("churn.", i) })
	d := time.Since(start)
	close(done)
	t.Logf("%d sub/unsub pairs on one connection in %v (%.0f ops/s); heap in use peaked %d KiB above the start",
		n, d, 2*n/d.Seconds(), (int64(peak.Load())-int64(base.HeapInuse))>>10)
	ts.srv.Hub().Flush()
	if st := ts.srv.Hub().Stats(); st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after the churn: %+v", st)
	}
	bystander.SendJSON(jsonOp("sub", "ok", 1, nil))
	expectKV(t, bystander.NextJSON(), "op", "ack", "id", 1)
}

// TestAttackChurnHoldsChannelSlots: with history on, a channel outlives
// its last subscriber by -history-ttl and counts toward -max-channels
// meanwhile. One connection churning sub/unsub through 1,000 fresh names
// (-max-channels 1000) must not deny new channels to everyone else: at the
// limit, a channel without subscribers gives way (shard's evictIdle).
func TestAttackChurnHoldsChannelSlots(t *testing.T) {
	ts := startServer(t, "epoll", opts{manualClock: true, srv: func(c *server.Config) {
		c.MaxChannels, c.HistorySize = 1000, 64
	}})
	attacker := wstest.Dial(t, ts.addr).Upgrade()
	churn(t, attacker, 1000, func(i int) string { return fmt.Sprint("squat.", i) })
	victim := wstest.Dial(t, ts.addr).Upgrade()
	victim.SendJSON(jsonOp("sub", "my-room", 1, nil))
	if m := victim.NextJSON(); m["op"] != "ack" {
		t.Fatalf("after one connection's 1,000 sub/unsub pairs (holding no subscription), another client's sub: %v; channels %d of 1000",
			m, ts.srv.Hub().Stats().Channels)
	}
}
