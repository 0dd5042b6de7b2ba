package server_test

import (
	"encoding/json"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestClusterDrainAnswersPublishes: a drain begins while publishes wait
// for the bus's ack. Every publish is answered before the publisher's
// 1001 (ack, or err 503 once the drain refuses new ones), and every acked
// publication reaches a subscriber of the channel before its 1001: a
// client that lost its ack to the close frame would publish again on
// another node, and the stream would hold it twice.
func TestClusterDrainAnswersPublishes(t *testing.T) {
	ns := startNATS(t)
	n := startNodes(t, ns.URL(), 1, nodeOpts{srv: func(c *server.Config) { c.PublishRate = 0 }})[0]
	s, _ := dialSub(t, n, "dr", nil)
	p := wstest.Dial(t, n.addr).Upgrade()
	const k = 2000
	var burst []byte
	for i := 1; i <= k; i++ {
		b, _ := json.Marshal(jsonOp("pub", "dr", i, i))
		burst = append(burst, wstest.Frame(ws.OpText, true, b)...)
	}
	p.Write(burst)
	// The drain starts at the first answer: the rest of the burst is
	// then being read, or waits for the bus.
	first := p.NextJSON()
	answered, refused := 1, 0
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
	note(first)
	drained := make(chan error, 1)
	go func() { drained <- n.drain() }()
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
		answered++
		note(m)
	}
	got, code := readUntilClose(t, s)
	s.C.Close()
	if code != 1001 {
		t.Fatalf("subscriber closed with %d, want 1001", code)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if answered != k {
		t.Fatalf("%d of %d publishes answered before the 1001 (%d acked, %d refused)", answered, k, len(acked), refused)
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
	t.Logf("%d acked, %d refused while draining, %d delivered", len(acked), refused, len(got))
}
