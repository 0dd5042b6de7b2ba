package server_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/starling-ws/starling/internal/wstest"
)

// TestClusterOrderThreeNodes: three nodes, two publishers on each (an
// independent client library, gorilla/websocket), publishing concurrently
// on two channels in both encodings. Every subscriber on every node, JSON
// or MessagePack, receives every publication of its channels once, each
// channel in the same order with the same offsets everywhere, the offsets
// the publishers' acks named, and each publisher's messages in the order
// it sent them.
func TestClusterOrderThreeNodes(t *testing.T) {
	ns := startNATS(t)
	nodes := startNodes(t, ns.URL(), 3, nodeOpts{})
	chans := []string{"c1", "c2"}
	type sub struct {
		who string
		c   *wstest.Conn
		mp  bool
	}
	var subs []sub
	for i, n := range nodes {
		j := wstest.Dial(t, n.addr).Upgrade()
		m := wstest.Dial(t, n.addr).Upgrade()
		for k, ch := range chans {
			j.SendJSON(jsonOp("sub", ch, k+1, nil))
			expectKV(t, j.NextJSON(), "op", "ack", "id", k+1)
			m.SendMP(map[string]any{"op": "sub", "ch": ch, "id": k + 1})
			expectKV(t, m.NextMP(), "op", "ack", "id", k+1)
		}
		subs = append(subs, sub{fmt.Sprintf("node%d/json", i), j, false}, sub{fmt.Sprintf("node%d/msgpack", i), m, true})
	}

	const perPub = 60
	type ackd struct{ ch, data string }
	acked := make(map[uint64]ackd) // offset -> what the publisher sent
	var mu sync.Mutex
	errs := make(chan error, 6)
	var wg sync.WaitGroup
	for i, n := range nodes {
		for p := 0; p < 2; p++ {
			wg.Add(1)
			go func(name, url string, binary bool) {
				defer wg.Done()
				errs <- publishSeq(url, name, binary, perPub, chans, func(off uint64, ch, data string) {
					mu.Lock()
					acked[off] = ackd{ch, data}
					mu.Unlock()
				})
			}(fmt.Sprintf("n%dp%d", i, p), n.url, p == 1)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(acked) != 6*perPub {
		t.Fatalf("%d distinct offsets acked, want %d", len(acked), 6*perPub)
	}
	var ref map[string][]uint64
	for _, s := range subs {
		got := map[string][]uint64{}
		lastSeq := map[string]int{} // publisher/channel -> last sequence seen
		for range 6 * perPub {
			var m map[string]any
			if s.mp {
				m = s.c.NextMP()
			} else {
				m = s.c.NextJSON()
			}
			ch, off, data := fmt.Sprint(m["ch"]), toUint(m["off"]), msgData(m)
			if m["op"] != "msg" {
				t.Fatalf("%s: %v", s.who, m)
			}
			if a, ok := acked[off]; !ok || a.ch != ch || a.data != data {
				t.Fatalf("%s: %s off %d data %q; the publisher's ack said %+v", s.who, ch, off, data, a)
			}
			var pub string
			var seq int
			fmt.Sscanf(data, "%4s-%d", &pub, &seq)
			if k := pub + ch; seq <= lastSeq[k] && lastSeq[k] != 0 {
				t.Fatalf("%s: %s's %d after its %d on %s", s.who, pub, seq, lastSeq[k], ch)
			}
			lastSeq[pub+ch] = seq
			got[ch] = append(got[ch], off)
		}
		if ref == nil {
			ref = got
			continue
		}
		for _, ch := range chans {
			if fmt.Sprint(got[ch]) != fmt.Sprint(ref[ch]) {
				t.Fatalf("%s's %s order differs:\n%v\n%v", s.who, ch, got[ch], ref[ch])
			}
		}
	}
	for _, ch := range chans {
		if len(ref[ch]) != 3*perPub {
			t.Errorf("%s: %d publications, want %d", ch, len(ref[ch]), 3*perPub)
		}
	}
}

// publishSeq publishes n messages "<name>-<i>" alternating over chans
// (pipelined: all sent, then all acks read) and reports each acked offset.
func publishSeq(url, name string, binary bool, n int, chans []string, acked func(off uint64, ch, data string)) error {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sent := map[int]string{}
	for i := 1; i <= n; i++ {
		ch := chans[i%len(chans)]
		data := fmt.Sprintf("%s-%d", name, i)
		op := map[string]any{"op": "pub", "ch": ch, "id": i, "data": data}
		var b []byte
		typ := websocket.TextMessage
		if binary {
			b, _ = msgpack.Marshal(op)
			typ = websocket.BinaryMessage
		} else {
			b, _ = json.Marshal(op)
		}
		if err := c.WriteMessage(typ, b); err != nil {
			return err
		}
		sent[i] = ch
	}
	for range n {
		_, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		var m map[string]any
		if binary {
			err = msgpack.Unmarshal(p, &m)
		} else {
			err = json.Unmarshal(p, &m)
		}
		if err != nil || m["op"] != "ack" {
			return fmt.Errorf("%s: reply %q (%v)", name, p, err)
		}
		id := int(toUint(m["id"]))
		acked(toUint(m["off"]), sent[id], fmt.Sprintf("%s-%d", name, id))
	}
	return nil
}
