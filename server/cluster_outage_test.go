package server_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestClusterNATSRestart: NATS goes down mid-stream and comes back.
// Meanwhile nothing crashes, clients stay connected (a ping op is still
// answered), pubs get err 503, the bus says why it is not ready; after
// the restart the nodes reconnect by themselves, pubs flow again to the
// same subscriber, and a resume across the outage recovers (file storage:
// the same stream, the same epoch).
func TestClusterNATSRestart(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 2, nodeOpts{})
	a, b := nodes[0], nodes[1]
	s, ack := dialSub(t, b, "o", nil)
	p := wstest.Dial(t, a.addr).Upgrade()
	var offs []uint64
	pub := func(id int) map[string]any {
		p.SendJSON(jsonOp("pub", "o", id, id))
		return p.NextJSON()
	}
	for i := 1; i <= 5; i++ {
		r := pub(i)
		expectKV(t, r, "op", "ack", "id", i)
		offs = append(offs, toUint(r["off"]))
		expectKV(t, s.NextJSON(), "op", "msg", "off", offs[i-1])
	}

	ns.Stop()
	for _, n := range nodes {
		wstest.WaitFor(t, "not ready while NATS is down", func() bool { ok, _ := n.srv.BusReady(); return !ok })
		if _, why := n.srv.BusReady(); !strings.Contains(why, "cluster:") {
			t.Errorf("reason %q", why)
		}
	}
	expectKV(t, pub(6), "op", "err", "id", 6, "code", 503)
	s.SendJSON(map[string]any{"op": "ping", "id": 9})
	expectKV(t, s.NextJSON(), "op", "pong", "id", 9)
	if a.srv.Open() != 1 || b.srv.Open() != 1 {
		t.Fatalf("connections: A %d, B %d; want 1 and 1", a.srv.Open(), b.srv.Open())
	}

	if err := ns.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	for i := 7; i <= 9; i++ {
		r := pub(i)
		expectKV(t, r, "op", "ack", "id", i)
		offs = append(offs, toUint(r["off"]))
		expectKV(t, s.NextJSON(), "op", "msg", "off", offs[len(offs)-1])
	}
	// A client that left before the outage resumes across it.
	r, ack2 := dialSub(t, a, "o", map[string]any{"off": offs[2], "epoch": ack["epoch"]})
	expectKV(t, ack2, "recovered", true, "epoch", ack["epoch"])
	for _, off := range offs[3:] {
		expectKV(t, r.NextJSON(), "op", "msg", "off", off)
	}
	if st := a.bus.Stats(); st.Reconnects == 0 {
		t.Errorf("reconnects %d", st.Reconnects)
	}
}

// TestClusterSlowConsumer: node B's fan-out stalls (its only shard worker
// is held), so its fan-out queue fills (-max-fanout-queue), its Deliver
// waits for room, its live feed backs up past the pending limit and NATS
// drops messages (a slow consumer). Once the worker runs again, B fetches
// what was dropped from the stream: its subscriber, connected throughout,
// receives all 300 publications in order with A's subscriber's offsets.
func TestClusterSlowConsumer(t *testing.T) {
	ns := startNATS(t)
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	defer release()
	held := make(chan struct{}, 1)
	a := startNode(t, ns.URL(), nodeOpts{})
	b := startNode(t, ns.URL(), nodeOpts{
		srv: func(c *server.Config) {
			c.Shards, c.MaxMessage, c.FanoutQueue = 1, 1024, 1024
			c.OnFanout = func(time.Duration, int) {
				select {
				case held <- struct{}{}:
				default:
				}
				<-hold
			}
		},
		bus: func(c *cluster.Config) { c.PendingMsgs = 20 },
	})
	a.waitReady(t)
	b.waitReady(t)
	sa, _ := dialSub(t, a, "s", nil)
	sb, _ := dialSub(t, b, "s", nil)
	const n = 300
	pub := startPub(a.url, "s", n)
	<-held
	wstest.WaitFor(t, "B's delivery to wait and NATS to drop", func() bool {
		return b.srv.ClusterStats().DeliverWaits > 0 && b.bus.Stats().SlowConsumer > 0
	})
	<-pub.done
	all := pub.finish(t)
	release()
	for i, want := range all {
		expectKV(t, sa.NextJSON(), "op", "msg", "off", want)
		m := sb.NextJSON()
		if toUint(m["off"]) != want {
			t.Fatalf("B's subscriber #%d: off %v, want %d", i, m["off"], want)
		}
	}
	if st := b.bus.Stats(); st.Fetched == 0 || st.Lost != 0 {
		t.Fatalf("B fetched %d back, lost %d: want > 0 and 0", st.Fetched, st.Lost)
	}
	if b.srv.Open() != 1 {
		t.Fatalf("B's subscriber was closed")
	}
}

// TestClusterInterest: a node takes the whole live feed through one
// wildcard subscription (docs/cluster.md says why), so the NATS server's
// interest does not change as WebSocket subscribers come and go on any
// number of channels.
func TestClusterInterest(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 2, nodeOpts{})
	before := ns.NumSubscriptions()
	var conns []*wstest.Conn
	for i := 0; i < 50; i++ {
		c, _ := dialSub(t, nodes[i%2], "u"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), nil)
		conns = append(conns, c)
	}
	if got := ns.NumSubscriptions(); got != before {
		t.Fatalf("NATS subscriptions %d with 50 channels subscribed, %d before", got, before)
	}
	for _, c := range conns {
		c.C.Close()
	}
	wstest.WaitFor(t, "the subscribers gone", func() bool { return nodes[0].srv.Open()+nodes[1].srv.Open() == 0 })
	if got := ns.NumSubscriptions(); got != before {
		t.Fatalf("NATS subscriptions %d after the subscribers left, %d before", got, before)
	}
}
