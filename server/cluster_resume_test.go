package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/starling-ws/starling/client"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// steadyPub publishes "p<i>" on ch through url, one at a time (each after
// the previous ack), until stop closes or n are acked; acked holds the
// offsets in order. It is a gorilla/websocket client of its own goroutine.
type steadyPub struct {
	mu    sync.Mutex
	acked []uint64
	err   error
	done  chan struct{}
	stop  chan struct{}
}

func startPub(url, ch string, n int) *steadyPub {
	p := &steadyPub{done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(p.done)
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			p.fail(err)
			return
		}
		defer c.Close()
		for i := 1; i <= n; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			b, _ := json.Marshal(map[string]any{"op": "pub", "ch": ch, "id": i, "data": fmt.Sprint("p", i)})
			if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
				p.fail(err)
				return
			}
			_, r, err := c.ReadMessage()
			if err != nil {
				p.fail(err)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil || m["op"] != "ack" {
				p.fail(fmt.Errorf("pub %d: reply %s", i, r))
				return
			}
			p.mu.Lock()
			p.acked = append(p.acked, toUint(m["off"]))
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *steadyPub) fail(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }

func (p *steadyPub) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.acked) }

// finish stops the publisher and returns what was acked.
func (p *steadyPub) finish(t *testing.T) []uint64 {
	t.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("publisher: %v", p.err)
	}
	return p.acked
}

// readUntilClose collects the offsets of msg frames until a close frame.
func readUntilClose(t *testing.T, c *wstest.Conn) (offs []uint64, code ws.StatusCode) {
	t.Helper()
	for {
		h, p := c.Next()
		switch h.OpCode {
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(p)
			return offs, code
		case ws.OpText:
			var m map[string]any
			if err := json.Unmarshal(p, &m); err != nil {
				t.Fatal(err)
			}
			if m["op"] == "msg" {
				offs = append(offs, toUint(m["off"]))
			}
		}
	}
}

// checkExactly: got must be exactly want (order, no gap, no duplicate).
func checkExactly(t *testing.T, who string, got, want []uint64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %d offsets, want %d\ngot  %v\nwant %v", who, len(got), len(want), got, want)
	}
}

func after(all []uint64, off uint64) []uint64 {
	for i, o := range all {
		if o > off {
			return all[i:]
		}
	}
	return nil
}

// TestClusterResumeAfterDrain: a subscriber on node A is drained (1001)
// while a publisher on node B keeps publishing; it reconnects to B with
// since = the last offset it got and resumes: recovered:true, and between
// A and B it receives every acked publication exactly once, in order.
func TestClusterResumeAfterDrain(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 2, nodeOpts{})
	a, b := nodes[0], nodes[1]
	s, ack := dialSub(t, a, "d", nil)
	epoch := ack["epoch"]
	pub := startPub(b.url, "d", 100000)
	wstest.WaitFor(t, "20 publications acked", func() bool { return pub.count() >= 20 })
	drained := make(chan error, 1)
	go func() { drained <- a.drain() }()
	got, code := readUntilClose(t, s)
	s.C.Close() // as a client does after the close handshake
	if code != 1001 || len(got) < 20 {
		t.Fatalf("drained with %d after %d messages, want 1001 after >= 20", code, len(got))
	}
	last := got[len(got)-1]
	wstest.WaitFor(t, "20 more publications acked", func() bool { return pub.count() >= len(got)+20 })
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	s2, ack2 := dialSub(t, b, "d", map[string]any{"off": last, "epoch": epoch})
	expectKV(t, ack2, "recovered", true, "epoch", epoch)
	all := pub.finish(t)
	rest := after(all, last)
	var got2 []uint64
	for range rest {
		m := s2.NextJSON()
		expectKV(t, m, "op", "msg", "ch", "d")
		got2 = append(got2, toUint(m["off"]))
	}
	checkExactly(t, "before the drain", got, all[:len(got)])
	checkExactly(t, "after the resume", got2, rest)
}

// TestClusterNodeKilled: three nodes behind a load balancer; a Go client
// (client/) on node A, a publisher on node C. A dies (no close frame, its
// bus connection dropped); the client reconnects through the balancer to
// B and resumes: every acked publication reaches the application exactly
// once, in order, and the resume says recovered.
func TestClusterNodeKilled(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 3, nodeOpts{})
	l := startLB(t, nodes[0].addr, nodes[1].addr)
	var mu sync.Mutex
	var got []uint64
	recovered := make(chan bool, 4)
	cl, err := client.Connect(l.url(), client.Options{
		Backoff: client.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		OnEvent: func(e client.Event) {
			if e.Kind == client.Subscribed && e.Resumed {
				recovered <- e.Recovered
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Subscribe(ctx, "k", func(m client.Message) {
		mu.Lock()
		got = append(got, m.Offset)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	wstest.WaitFor(t, "the client on node A", func() bool { return nodes[0].srv.Open() == 1 })
	pub := startPub(nodes[2].url, "k", 100000)
	wstest.WaitFor(t, "20 messages", func() bool { return n() >= 20 })
	nodes[0].kill()
	select {
	case ok := <-recovered:
		if !ok {
			t.Fatal("resume on node B: recovered:false")
		}
	case <-ctx.Done():
		t.Fatal("no resume within 10 s")
	}
	if nodes[1].srv.Open() != 1 {
		t.Fatalf("node B holds %d connections, want the client's", nodes[1].srv.Open())
	}
	k := n()
	wstest.WaitFor(t, "20 more messages", func() bool { return n() >= k+20 })
	all := pub.finish(t)
	wstest.WaitFor(t, "every acked publication", func() bool { return n() >= len(all) })
	mu.Lock()
	defer mu.Unlock()
	checkExactly(t, "the client", got, all)
}

// TestClusterResumeFetch: node B starts after A published; a client that
// resumes on B from an offset B never delivered is served from the stream
// (a fetch), recovered:true with exactly the missed publications. Forty
// clients doing it at once on a node with 2 fetchers all recover, and a
// subscriber there sees live publications meanwhile.
func TestClusterResumeFetch(t *testing.T) {
	ns := startNATS(t)
	a := startNodes(t, ns.URL(), 1, nodeOpts{})[0]
	_, ack := dialSub(t, a, "h", nil)
	pub := startPub(a.url, "h", 30)
	<-pub.done
	all := pub.finish(t)
	b := startNodes(t, ns.URL(), 1, nodeOpts{srv: func(c *server.Config) { c.BusFetches = 2 }})[0]
	live, _ := dialSub(t, b, "other", nil)

	const k = 40
	conns := make([]*wstest.Conn, k)
	for i := range conns {
		conns[i] = wstest.Dial(t, b.addr).Upgrade()
	}
	for i, c := range conns { // all sent before any is read
		since := all[i%20]
		op := jsonOp("sub", "h", 1, nil)
		op["since"] = map[string]any{"off": since, "epoch": ack["epoch"]}
		c.SendJSON(op)
	}
	ap := wstest.Dial(t, a.addr).Upgrade()
	ap.SendJSON(jsonOp("pub", "other", 1, "during"))
	expectKV(t, ap.NextJSON(), "op", "ack")
	expectKV(t, live.NextJSON(), "op", "msg", "ch", "other", "data", "during")
	for i, c := range conns {
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1, "recovered", true, "off", all[29])
		var got []uint64
		for range after(all, all[i%20]) {
			got = append(got, toUint(c.NextJSON()["off"]))
		}
		checkExactly(t, fmt.Sprint("resume ", i), got, after(all, all[i%20]))
	}
	if st := b.srv.ClusterStats(); st.Fetches == 0 || st.FetchQueueFull != 0 {
		t.Fatalf("fetches %d, queue full %d: want > 0 and 0", st.Fetches, st.FetchQueueFull)
	}
}

// TestClusterResumeBounded: clients resuming from offsets the cluster
// never had (a lie, or a client of another cluster under the same epoch)
// make the fetchers wait for this node to catch up, up to
// -nats-fetch-timeout: with 1 fetcher and a queue of 4, forty of them at
// once hold 1 + 4 waits; the rest are answered at once from history
// (recovered:false), every one gets its ack, and a sub-then-unsub behind
// a waiting resume keeps its order. Other connections are unaffected.
func TestClusterResumeBounded(t *testing.T) {
	ns := startNATS(t)
	n := startNodes(t, ns.URL(), 1, nodeOpts{srv: func(c *server.Config) {
		c.BusFetches, c.BusFetchQueue, c.BusFetchTimeout = 1, 4, 300*time.Millisecond
	}})[0]
	other, ack := dialSub(t, n, "calm", nil)
	epoch := ack["epoch"]
	future := n.bus.Delivered() + 1_000_000

	// Sub (waits) then unsub of the same channel in one read: the unsub
	// runs after the sub, so no msg of the channel follows its ack.
	su := wstest.Dial(t, n.addr).Upgrade()
	sub := jsonOp("sub", "lie", 1, nil)
	sub["since"] = map[string]any{"off": future, "epoch": epoch}
	b1, _ := json.Marshal(sub)
	b2, _ := json.Marshal(jsonOp("unsub", "lie", 2, nil))
	su.Write(append(wstest.Frame(ws.OpText, true, b1), wstest.Frame(ws.OpText, true, b2)...))

	const k = 40
	conns := make([]*wstest.Conn, k)
	for i := range conns {
		conns[i] = wstest.Dial(t, n.addr).Upgrade()
		op := jsonOp("sub", "lie", 1, nil)
		op["since"] = map[string]any{"off": future + uint64(i), "epoch": epoch}
		conns[i].SendJSON(op)
	}
	// Meanwhile the node serves everyone else.
	p := wstest.Dial(t, n.addr).Upgrade()
	p.SendJSON(jsonOp("pub", "calm", 1, "x"))
	expectKV(t, p.NextJSON(), "op", "ack", "id", 1)
	expectKV(t, other.NextJSON(), "op", "msg", "data", "x")

	for _, c := range conns {
		expectKV(t, c.NextJSON(), "op", "ack", "id", 1, "recovered", false)
	}
	expectKV(t, su.NextJSON(), "op", "ack", "id", 1, "recovered", false)
	expectKV(t, su.NextJSON(), "op", "ack", "id", 2)
	p.SendJSON(jsonOp("pub", "lie", 2, "after the unsub"))
	expectKV(t, p.NextJSON(), "op", "ack", "id", 2)
	su.SendJSON(map[string]any{"op": "ping", "id": 3})
	expectKV(t, su.NextJSON(), "op", "pong", "id", 3) // and not the msg
	st := n.srv.ClusterStats()
	if st.FetchQueueFull == 0 || st.CatchUpMissed == 0 || st.CatchUpMissed > 5 {
		t.Fatalf("queue full %d, waits that timed out %d: want > 0 and 1..5 (1 fetcher, 4 queued)", st.FetchQueueFull, st.CatchUpMissed)
	}
	if st.FetchesPending != 0 {
		t.Fatalf("%d resumes still pending", st.FetchesPending)
	}
}

// TestClusterResumeQuiet: node B started after the last publish on a
// channel. A client up to date with it resumes on B: nothing is stored
// after its offset, and B learns the channel's position from the stored
// publication at it, so the answer is recovered:true at that offset, with
// nothing replayed and the next publish live. A client from before the
// last publish still gets it replayed (a fetch).
func TestClusterResumeQuiet(t *testing.T) {
	ns := startNATS(t)
	a := startNodes(t, ns.URL(), 1, nodeOpts{})[0]
	_, ack := dialSub(t, a, "q", nil)
	pub := startPub(a.url, "q", 3)
	<-pub.done
	all := pub.finish(t)
	b := startNodes(t, ns.URL(), 1, nodeOpts{})[0]
	c, ack2 := dialSub(t, b, "q", map[string]any{"off": all[2], "epoch": ack["epoch"]})
	expectKV(t, ack2, "recovered", true, "off", all[2])
	d, ack3 := dialSub(t, b, "q", map[string]any{"off": all[1], "epoch": ack["epoch"]})
	expectKV(t, ack3, "recovered", true, "off", all[2])
	expectKV(t, d.NextJSON(), "op", "msg", "off", all[2])
	p := wstest.Dial(t, a.addr).Upgrade()
	p.SendJSON(jsonOp("pub", "q", 9, "next"))
	next := toUint(p.NextJSON()["off"])
	expectKV(t, c.NextJSON(), "op", "msg", "off", next, "data", "next")
	expectKV(t, d.NextJSON(), "op", "msg", "off", next, "data", "next")
	if st := b.srv.ClusterStats(); st.Anchors != 1 {
		t.Fatalf("anchors %d, want 1", st.Anchors)
	}
}

// TestClusterJoinBusy: a node joins while the cluster publishes (the bus
// delivers from its first sync on, while the node is still being wired);
// its subscriber gets the live stream in order, and a resume there from
// before the node started is served from the stream.
func TestClusterJoinBusy(t *testing.T) {
	ns := startNATS(t)
	a := startNodes(t, ns.URL(), 1, nodeOpts{})[0]
	_, ack := dialSub(t, a, "busy", nil)
	pub := startPub(a.url, "busy", 100000)
	wstest.WaitFor(t, "10 acked", func() bool { return pub.count() >= 10 })
	b := startNodes(t, ns.URL(), 1, nodeOpts{})[0]
	s, _ := dialSub(t, b, "busy", nil)
	r, ack2 := dialSub(t, b, "busy", map[string]any{"off": 0, "epoch": ack["epoch"]})
	expectKV(t, ack2, "recovered", true)
	k := pub.count()
	wstest.WaitFor(t, "10 more acked", func() bool { return pub.count() >= k+10 })
	all := pub.finish(t)
	var got []uint64
	for len(got) == 0 || got[len(got)-1] < all[len(all)-1] {
		got = append(got, toUint(r.NextJSON()["off"]))
	}
	checkExactly(t, "resumed from 0 on the new node", got, all)
	m := s.NextJSON()
	expectKV(t, m, "op", "msg")
}
