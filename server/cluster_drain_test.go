package server_test

import (
	"encoding/json"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestClusterDrainAnswersPublishes: a drain begins while publishes wait
// for the bus's ack. Every ack the stream gave reaches the publisher
// before its 1001, and every acked publication reaches a subscriber of
// the channel before its 1001: a client that lost its ack to the close
// frame would publish again on another node, and the stream would hold
// it twice. Connections still open during the drain (the 1001s are spread
// over half the drain time) are refused new publishes with err 503.
func TestClusterDrainAnswersPublishes(t *testing.T) {
	ns := startNATS(t)
	n := startNodes(t, ns.URL(), 1, nodeOpts{srv: func(c *server.Config) { c.PublishRate = 0 }})[0]
	s, _ := dialSub(t, n, "dr", nil)
	p := wstest.Dial(t, n.addr).Upgrade()
	late := make([]*wstest.Conn, 40)
	for i := range late {
		late[i] = wstest.Dial(t, n.addr).Upgrade()
	}
	const k = 2000
	var burst []byte
	for i := 1; i <= k; i++ {
		b, _ := json.Marshal(jsonOp("pub", "dr", i, i))
		burst = append(burst, wstest.Frame(ws.OpText, true, b)...)
	}
	p.Write(burst)
	// The drain starts at the first answer: the rest of the burst is
	// then being read, or waits for the bus.
	refused := 0
	acked := map[uint64]bool{}
	note := func(m map[string]any) {
		switch {
		case m["op"] == "ack":
			acked[toUint(m["off"])] = true
		case m["op"] == "err" && m["code"] == float64(503):
			refused++
		default:
			t.Fatalf("reply %v", m)
		}
	}
	note(p.NextJSON())
	drained := make(chan error, 1)
	go func() { drained <- n.drain() }()
	wstest.WaitFor(t, "the drain begun", n.srv.Draining)
	for _, c := range late {
		c.SendJSON(jsonOp("pub", "elsewhere", 1, "x"))
	}
	for {
		h, b := p.Next()
		if h.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(b); code != 1001 {
				t.Fatalf("publisher closed with %d, want 1001", code)
			}
			p.C.Close() // as a client does after the close handshake
			break
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		note(m)
	}
	got, code := readUntilClose(t, s)
	s.C.Close()
	if code != 1001 {
		t.Fatalf("subscriber closed with %d, want 1001", code)
	}
	lateRefused, lateAcked, lateOther := 0, 0, ""
	for _, c := range late {
		h, b := c.Next()
		if h.OpCode == ws.OpText {
			var m map[string]any
			json.Unmarshal(b, &m)
			switch {
			case m["op"] == "err" && m["code"] == float64(503):
				lateRefused++
			case m["op"] == "ack":
				lateAcked++
				lateOther = string(b)
			default:
				lateOther = string(b)
			}
		}
		c.C.Close()
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	// The publisher's acks against the stream's, once the bus is drained.
	if stored := n.bus.Stats().Published - uint64(lateAcked); uint64(len(acked)) != stored {
		t.Fatalf("the stream acked %d of the burst's publishes, the publisher got %d acks before its 1001 (%d refused)", stored, len(acked), refused)
	}
	if lateOther != "" {
		t.Fatalf("a publish during the drain answered %s, want err 503 (or the 1001 first)", lateOther)
	}
	if lateRefused == 0 {
		t.Fatalf("none of %d connections still open during the drain was refused a publish", len(late))
	}
	seen := map[uint64]bool{}
	for _, o := range got {
		seen[o] = true
	}
	for o := range acked {
		if !seen[o] {
			t.Fatalf("acked offset %d did not reach the subscriber before its 1001 (%d acked, %d delivered)", o, len(acked), len(got))
		}
	}
	t.Logf("%d acked, %d refused while draining, %d delivered; %d of %d late connections refused 503", len(acked), refused, len(got), lateRefused, len(late))
}
