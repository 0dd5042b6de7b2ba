package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

// TestClusterPubSub: two nodes on one NATS server. A pub on either node
// reaches subscribers on both, in both encodings, with the same offset
// everywhere; the publisher's ack carries that offset. The offsets are the
// stream's: increasing, not contiguous per channel (another channel's
// publishes take sequences in between).
func TestClusterPubSub(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 2, nodeOpts{})
	a, b := nodes[0], nodes[1]

	sa, ackA := dialSub(t, a, "room", nil)
	sb, _ := dialSub(t, b, "room", nil)
	mb := wstest.Dial(t, b.addr).Upgrade() // MessagePack subscriber on B
	mb.SendMP(map[string]any{"op": "sub", "ch": "room", "id": 1})
	expectKV(t, mb.NextMP(), "op", "ack", "id", 1)
	if ackA["epoch"] == "" {
		t.Fatalf("ack without epoch: %v", ackA)
	}

	pa := wstest.Dial(t, a.addr).Upgrade()
	pb := wstest.Dial(t, b.addr).Upgrade()
	var offs []float64
	for i := 0; i < 6; i++ {
		if i%2 == 1 {
			// Another channel between: its publish takes a sequence too.
			pa.SendJSON(jsonOp("pub", "other", 100+i, "x"))
			expectKV(t, pa.NextJSON(), "op", "ack", "id", 100+i)
		}
		var ack map[string]any
		if i%2 == 0 {
			pa.SendJSON(jsonOp("pub", "room", i+1, map[string]any{"n": i}))
			ack = pa.NextJSON()
		} else {
			pb.SendMP(map[string]any{"op": "pub", "ch": "room", "id": i + 1, "data": map[string]any{"n": i}})
			ack = pb.NextMP()
		}
		expectKV(t, ack, "op", "ack", "id", i+1)
		off, _ := ack["off"].(float64)
		if off == 0 {
			off = float64(toUint(ack["off"]))
		}
		if len(offs) > 0 && off <= offs[len(offs)-1] {
			t.Fatalf("pub %d: off %v not above %v", i, off, offs[len(offs)-1])
		}
		offs = append(offs, off)
	}
	if offs[1] == offs[0]+1 || offs[3] == offs[2]+1 {
		t.Errorf("offsets %v are contiguous although another channel published in between", offs)
	}
	for i, off := range offs {
		for who, c := range map[string]interface{ NextJSON() map[string]any }{"A": sa, "B": sb} {
			m := c.NextJSON()
			expectKV(t, m, "op", "msg", "ch", "room", "off", off)
			if got := msgData(m); got != fmt.Sprint(map[string]any{"n": float64(i)}) {
				t.Fatalf("%s #%d data %s", who, i, got)
			}
		}
		m := mb.NextMP()
		expectKV(t, m, "op", "msg", "ch", "room")
		if toUint(m["off"]) != uint64(off) {
			t.Fatalf("MessagePack subscriber #%d: off %v, want %v", i, m["off"], off)
		}
	}
}

// toUint reads a number decoded from JSON (float64) or MessagePack (any
// integer type).
func toUint(v any) uint64 {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanFloat():
		return uint64(rv.Float())
	case rv.CanInt():
		return uint64(rv.Int())
	case rv.CanUint():
		return rv.Uint()
	}
	return 0
}

// TestClusterAPIPublish: the HTTP API publishes through the bus too: its
// answer carries the cluster offset, a subscriber on the other node gets
// it, and with NATS down it answers 503.
func TestClusterAPIPublish(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 2, nodeOpts{})
	keys, err := api.ParseKeys([]byte("k-0123456789abcdef0123456789abcdef\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Keys: keys, MaxBody: 1 << 16}, nodes[0].srv)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := dialSub(t, nodes[1], "news", nil)
	post := func() (int, map[string]any) {
		req, _ := http.NewRequest("POST", "/api/publish", bytes.NewReader([]byte(`{"ch":"news","data":{"v":1}}`)))
		req.Header.Set("Authorization", "Bearer k-0123456789abcdef0123456789abcdef")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	code, resp := post()
	if code != 200 {
		t.Fatalf("publish: %d %v", code, resp)
	}
	expectKV(t, sb.NextJSON(), "op", "msg", "ch", "news", "off", resp["off"])
	ns.Stop()
	wstest.WaitFor(t, "node A not ready", func() bool { ok, _ := nodes[0].srv.BusReady(); return !ok })
	if code, resp := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("publish with NATS down: %d %v, want 503", code, resp)
	}
}

// TestClusterInflightBound: one connection bursts 500 pubs in one write at
// a node that lets one publish wait for the bus (-nats-max-inflight 1):
// every pub gets an answer (ack or err 503), the ones beyond the bound are
// refused at once, and the node goes on serving (a pub after the burst is
// acked, its msg reaches a subscriber).
func TestClusterInflightBound(t *testing.T) {
	ns := startNATS(t)
	n := startNodes(t, ns.URL(), 1, nodeOpts{srv: func(c *server.Config) { c.BusMaxInflight, c.PublishRate = 1, 0 }})[0]
	s, _ := dialSub(t, n, "after", nil)
	p := wstest.Dial(t, n.addr).Upgrade()
	var burst []byte
	for i := 1; i <= 500; i++ {
		b, _ := json.Marshal(jsonOp("pub", "burst", i, i))
		burst = append(burst, wstest.Frame(ws.OpText, true, b)...)
	}
	p.Write(burst)
	acked, busy := 0, 0
	for range 500 {
		m := p.NextJSON()
		switch {
		case m["op"] == "ack":
			acked++
		case m["op"] == "err" && m["code"] == float64(503):
			busy++
		default:
			t.Fatalf("reply %v", m)
		}
	}
	if acked == 0 || busy == 0 || n.srv.ClusterStats().PublishesBusy != uint64(busy) {
		t.Fatalf("acked %d, refused %d (counted %d): want both > 0", acked, busy, n.srv.ClusterStats().PublishesBusy)
	}
	wstest.WaitFor(t, "nothing in flight", func() bool { return n.srv.ClusterStats().Inflight == 0 })
	p.SendJSON(jsonOp("pub", "after", 1000, "x"))
	expectKV(t, p.NextJSON(), "op", "ack", "id", 1000)
	expectKV(t, s.NextJSON(), "op", "msg", "data", "x")
}
