package cluster

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/starling-ws/starling/frame"
)

// TestSlowConsumer: a node whose sink stalls while 600 publications pass
// overflows its live subscription's pending limit; NATS drops messages
// (counted, never silent), and when the sink moves again the node fetches
// every dropped one from the stream and delivers all of them in the same
// order as a node that kept up, nothing lost.
func TestSlowConsumer(t *testing.T) {
	ns := startNATS(t)
	fast := newNode(t, testCfg(ns.url()))
	cfg := testCfg(ns.url())
	cfg.PendingMsgs = 20
	block := make(chan struct{})
	slow := newNodeBlocked(t, cfg, block)
	fast.waitReady(t)
	slow.waitReady(t)
	chans := []string{"s.1", "s.2", "s.3"}
	for i := range 600 {
		ch := chans[i%len(chans)]
		if err := fast.bus.Publish([]byte(ch), fmt.Appendf(nil, "%d", i), frame.JSON, func(_ uint64, err error) {
			if err != nil {
				t.Error(err)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "fast node has all", func() bool { return fast.count() == 600 })
	waitFor(t, "slow consumer events", func() bool { return slow.bus.Stats().SlowConsumer > 0 })
	close(block)
	waitFor(t, "slow node has all", func() bool { return slow.count() == 600 })
	for _, ch := range chans {
		rf, rs := fast.recs(ch), slow.recs(ch)
		checkChain(t, "slow", ch, rs)
		for i := range rf {
			if rf[i] != rs[i] {
				t.Fatalf("%s #%d: fast %+v slow %+v", ch, i, rf[i], rs[i])
			}
		}
	}
	st := slow.bus.Stats()
	if st.Fetched == 0 || st.Lost != 0 || st.Gaps == 0 {
		t.Fatalf("slow node: %+v; want fetched > 0, gaps > 0, lost 0", st)
	}
	t.Logf("slow node: slow consumer events %d, gaps %d, fetched %d, duplicates %d", st.SlowConsumer, st.Gaps, st.Fetched, st.Duplicates)
}

// TestForeignMessages: what another client puts on the bus's subjects
// (a message without the encoding header, a subject of two tokens, a fake
// live message without sequence headers) is counted and not delivered,
// and the node's feed goes on with nothing lost.
func TestForeignMessages(t *testing.T) {
	ns := startNATS(t)
	n := newNode(t, testCfg(ns.url()))
	n.waitReady(t)
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, subj := range []string{"starling.ch.noenc", "starling.ch.two.tokens"} {
		if _, err := js.Publish(t.Context(), subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	m := nats.NewMsg("starling.ch.bad~~name?")
	m.Header.Set(hdrEnc, encJSON)
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("starling.live.fake", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := publishOne(n.bus, "good", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "good delivered", func() bool { return n.count() == 1 })
	waitFor(t, "foreign ones counted", func() bool { return n.bus.Stats().Bad == 4 })
	// A resync may fetch some of them before the live feed brings them
	// (then the live copy is a duplicate); none may count as lost.
	if st := n.bus.Stats(); st.Lost != 0 || st.Delivered != 1 {
		t.Fatalf("stats %+v: foreign messages must not be lost sequences or delivered", st)
	}
}
