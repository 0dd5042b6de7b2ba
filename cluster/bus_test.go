package cluster

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/starling-ws/starling/frame"
)

// checkChain verifies one node's view of a channel: offsets increase, and
// each publication's predecessor is the one delivered before it (the
// first's is 0: the channel had nothing stored before).
func checkChain(tb testing.TB, who, ch string, rs []rec) {
	tb.Helper()
	var last uint64
	for i, r := range rs {
		if r.off <= last || r.prev != last {
			tb.Fatalf("%s %s #%d: off %d prev %d after %d", who, ch, i, r.off, r.prev, last)
		}
		last = r.off
	}
}

// publishAll publishes msgs on ch from b concurrently with the other
// publishers and returns the acked offsets, in publish order.
func publishAll(tb testing.TB, b *Bus, ch string, msgs []string, encs []frame.Enc) []uint64 {
	tb.Helper()
	offs := make([]uint64, len(msgs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, m := range msgs {
		wg.Add(1)
		err := b.Publish([]byte(ch), []byte(m), encs[i%len(encs)], func(off uint64, err error) {
			mu.Lock()
			offs[i] = off
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			tb.Fatalf("publish %s #%d: %v", ch, i, err)
		}
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	return offs
}

// TestCrossNodeOrder: three nodes publish concurrently on two channels in
// both encodings; every node delivers every publication, each channel in
// the same order with the same offsets and predecessors, and each hub
// writes them in that order to a real subscriber.
func TestCrossNodeOrder(t *testing.T) {
	ns := startNATS(t)
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = newNode(t, testCfg(ns.url()))
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	chans := []string{"room.1", "user:42/inbox=x-y@z_"}
	subs := make([][]*subscriber, len(nodes))
	for i, n := range nodes {
		for _, ch := range chans {
			subs[i] = append(subs[i], subscribe(t, n.hub, ch, nil, nil))
		}
	}
	const per = 200
	encs := []frame.Enc{frame.JSON, frame.MsgPack}
	acked := make(map[uint64]string)
	var amu sync.Mutex
	var wg sync.WaitGroup
	for i, n := range nodes {
		for _, ch := range chans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msgs := make([]string, per)
				for k := range msgs {
					msgs[k] = fmt.Sprintf(`{"node":%d,"ch":%q,"k":%d}`, i, ch, k)
				}
				offs := publishAll(t, n.bus, ch, msgs, encs)
				amu.Lock()
				for k, off := range offs {
					acked[off] = msgs[k]
				}
				amu.Unlock()
			}()
		}
	}
	wg.Wait()
	total := per * len(nodes) * len(chans)
	if len(acked) != total {
		t.Fatalf("%d distinct acked offsets, want %d", len(acked), total)
	}
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d delivers %d", i, total), func() bool { return n.count() == total })
	}
	for ci, ch := range chans {
		ref := nodes[0].recs(ch)
		if len(ref) != per*len(nodes) {
			t.Fatalf("%s: %d publications, want %d", ch, len(ref), per*len(nodes))
		}
		checkChain(t, "node 0", ch, ref)
		for _, r := range ref {
			if acked[r.off] != r.data {
				t.Fatalf("%s off %d: delivered %q, acked for %q", ch, r.off, r.data, acked[r.off])
			}
		}
		for i, n := range nodes {
			got := n.recs(ch)
			for k := range ref {
				if got[k] != ref[k] {
					t.Fatalf("node %d %s #%d: %+v, node 0 has %+v", i, ch, k, got[k], ref[k])
				}
			}
			s := subs[i][ci]
			waitFor(t, "subscriber frames", func() bool { return len(s.got()) == len(ref) })
			for k, f := range s.got() {
				if f.off != ref[k].off || f.data != ref[k].data || f.enc != ref[k].enc {
					t.Fatalf("node %d subscriber %s #%d: off %d %q, want off %d %q", i, ch, k, f.off, f.data, ref[k].off, ref[k].data)
				}
			}
		}
	}
	for i, n := range nodes {
		st := n.bus.Stats()
		if st.Lost != 0 || st.Bad != 0 || st.Epoch == 0 || st.Epoch != nodes[0].bus.Epoch() {
			t.Fatalf("node %d stats %+v", i, st)
		}
	}
}

// TestPublishInvalid: names outside the channel alphabet never reach NATS.
func TestPublishInvalid(t *testing.T) {
	ns := startNATS(t)
	n := newNode(t, testCfg(ns.url()))
	n.waitReady(t)
	for _, ch := range []string{"", "a b", "a*", ">", "a\x00", string(make([]byte, 129))} {
		if err := n.bus.Publish([]byte(ch), []byte("1"), frame.JSON, func(uint64, error) { t.Error("done called") }); !errors.Is(err, ErrChannel) {
			t.Fatalf("%q: %v, want ErrChannel", ch, err)
		}
	}
}
