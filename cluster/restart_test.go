package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-ws/starling/frame"
)

// publishOne publishes and waits for the answer.
func publishOne(b *Bus, ch, data string) (uint64, error) {
	type res struct {
		off uint64
		err error
	}
	c := make(chan res, 1)
	if err := b.Publish([]byte(ch), []byte(data), frame.JSON, func(off uint64, err error) { c <- res{off, err} }); err != nil {
		return 0, err
	}
	r := <-c
	return r.off, r.err
}

// TestNATSRestart: the NATS server goes away mid-stream and comes back on
// the same port and (file) store. Meanwhile publishes fail at once with
// ErrUnavailable and Ready says why; nothing panics. Node A reconnects
// first and publishes before node B is back: B fetches what it missed from
// the stream, and both nodes end with the same channel, offsets continuous
// in the predecessor sense, under the same epoch.
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t)
	a := newNode(t, testCfg(ns.url()))
	cfgB := testCfg(ns.url())
	cfgB.ReconnectWait = 4 * time.Second // B comes back well after A
	b := newNode(t, cfgB)
	a.waitReady(t)
	b.waitReady(t)
	epoch := a.bus.Epoch()
	const ch = "restart.1"
	for i := range 20 {
		if _, err := publishOne(a.bus, ch, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "B has the first 20", func() bool { return len(b.recs(ch)) == 20 })

	ns.stop()
	for _, n := range []*node{a, b} {
		waitFor(t, "not ready while NATS is down", func() bool { ok, _ := n.bus.Ready(); return !ok })
		_, why := n.bus.Ready()
		start := time.Now()
		_, err := publishOne(n.bus, ch, "during")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("publish while NATS is down: %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish while NATS is down took %v: it must fail fast", d)
		}
		t.Logf("while down: Ready false %q; publish: %v", why, err)
	}

	ns.start()
	a.waitReady(t)
	if ok, why := b.bus.Ready(); ok {
		t.Fatal("B reconnected before A published: the test cannot show B's catch-up", why)
	}
	for i := range 30 {
		if _, err := publishOne(a.bus, ch, fmt.Sprintf("after-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	b.waitReady(t)
	waitFor(t, "B catches up", func() bool { return len(b.recs(ch)) == 50 })
	waitFor(t, "A has all", func() bool { return len(a.recs(ch)) == 50 })
	ra, rb := a.recs(ch), b.recs(ch)
	checkChain(t, "A", ch, ra)
	checkChain(t, "B", ch, rb)
	for i := range ra {
		if ra[i] != rb[i] {
			t.Fatalf("#%d: A %+v, B %+v", i, ra[i], rb[i])
		}
		if ra[i].epoch != epoch {
			t.Fatalf("#%d: epoch %d, want %d (file store keeps the stream)", i, ra[i].epoch, epoch)
		}
	}
	st := b.bus.Stats()
	if st.Fetched < 30 || st.Reconnects == 0 || st.Lost != 0 {
		t.Fatalf("B stats: fetched %d reconnects %d lost %d; want >= 30, > 0, 0", st.Fetched, st.Reconnects, st.Lost)
	}
	t.Logf("B: fetched %d, reconnects %d, gaps %d", st.Fetched, st.Reconnects, st.Gaps)
}

// TestMemoryStoreRestartNewEpoch: a memory stream does not survive the
// NATS restart; the bus creates it again, the epoch changes, and the
// hubs start the channel over under it.
func TestMemoryStoreRestartNewEpoch(t *testing.T) {
	ns := startNATS(t)
	cfg := testCfg(ns.url())
	cfg.Storage = Memory
	var told atomic.Uint32
	cfg.OnEpoch = func(e uint32) { told.Store(e) }
	a := newNode(t, cfg)
	cfg.OnEpoch = nil
	b := newNode(t, cfg)
	a.waitReady(t)
	b.waitReady(t)
	e1 := a.bus.Epoch()
	if told.Load() != e1 {
		t.Fatalf("OnEpoch told %d, epoch %d", told.Load(), e1)
	}
	if _, err := publishOne(a.bus, "mem", "one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b has one", func() bool { return len(b.recs("mem")) == 1 })
	ns.stop()
	waitFor(t, "a not ready", func() bool { ok, _ := a.bus.Ready(); return !ok })
	ns.start()
	a.waitReady(t)
	b.waitReady(t)
	if e2 := a.bus.Epoch(); e2 == e1 || e2 != b.bus.Epoch() || told.Load() != e2 {
		t.Fatalf("epochs after the memory stream was lost: a %d (told %d) b %d, before %d", e2, told.Load(), b.bus.Epoch(), e1)
	}
	off, err := publishOne(b.bus, "mem", "two")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a has two", func() bool { return len(a.recs("mem")) == 2 })
	if pos, ok := a.hub.Offset([]byte("mem")); !ok || pos.Off != off || pos.Epoch != a.bus.Epoch() {
		t.Fatalf("hub position %+v %v, want off %d epoch %d", pos, ok, off, a.bus.Epoch())
	}
}

// TestStartWithoutNATS: a node starts while NATS is not there: Connect
// returns, Ready says why, publishes fail at once; when NATS comes, the
// node becomes ready by itself.
func TestStartWithoutNATS(t *testing.T) {
	ns := startNATS(t)
	ns.stop()
	n := newNode(t, testCfg(ns.url()))
	if ok, why := n.bus.Ready(); ok || why == "" {
		t.Fatalf("Ready() = %v %q without NATS", ok, why)
	}
	if _, err := publishOne(n.bus, "x", "1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish without NATS: %v", err)
	}
	if _, err := n.bus.Fetch(t.Context(), []byte("x"), 0, 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fetch without NATS: %v", err)
	}
	ns.start()
	n.waitReady(t)
	if _, err := publishOne(n.bus, "x", "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered", func() bool { return len(n.recs("x")) == 1 })
}

// TestPublishesDuringRestart: publishers keep going while NATS restarts;
// every publish is answered exactly once (an offset, or ErrUnavailable at
// once or later). Every acked publication is delivered by every node in
// one order; a publish refused at once is never delivered; one that failed
// after it was taken (its ack lost with the connection) may have been
// stored, and then every node delivers it too (docs/cluster.md: a late 503
// means "unknown").
func TestPublishesDuringRestart(t *testing.T) {
	ns := startNATS(t)
	cfg := testCfg(ns.url())
	cfg.HistorySize = 1 << 20 // nothing leaves the stream during the test
	a, b := newNode(t, cfg), newNode(t, cfg)
	a.waitReady(t)
	b.waitReady(t)
	var acked, failed, refusedData sync.Map
	var answers, refused, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for pi, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots := make(chan struct{}, 256) // a publisher with at most 256 in flight
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case slots <- struct{}{}:
				}
				data := fmt.Sprintf("p%d-%d", pi, i)
				calls.Add(1)
				err := n.bus.Publish([]byte("flow"), []byte(data), frame.MsgPack, func(off uint64, err error) {
					if err == nil {
						acked.Store(off, data)
					} else {
						failed.Store(data, true)
					}
					answers.Add(1)
					<-slots
				})
				if err != nil {
					refused.Add(1)
					refusedData.Store(data, true)
					answers.Add(1)
					<-slots
					time.Sleep(time.Millisecond) // pacing a refused publisher, not synchronisation
				}
			}
		}()
	}
	waitFor(t, "some acked", func() bool { return a.bus.Stats().Published > 200 })
	ns.stop()
	waitFor(t, "refusals while down", func() bool { return refused.Load() > 50 })
	ns.start()
	a.waitReady(t)
	b.waitReady(t)
	base := a.bus.Stats().Published
	waitFor(t, "acked after restart", func() bool { return a.bus.Stats().Published > base+200 })
	close(stop)
	wg.Wait()
	waitFor(t, "every publish answered", func() bool { return answers.Load() == calls.Load() })
	last := streamLast(t, a.bus)
	for _, n := range []*node{a, b} {
		waitFor(t, "node delivered up to the stream's last", func() bool { return n.bus.delivered() == last })
	}
	ra, rb := a.recs("flow"), b.recs("flow")
	if len(ra) != len(rb) {
		t.Fatalf("a %d b %d publications", len(ra), len(rb))
	}
	checkChain(t, "a", "flow", ra)
	nAcked, lateFailed := 0, 0
	for i := range ra {
		if ra[i] != rb[i] {
			t.Fatalf("#%d differs: %+v %+v", i, ra[i], rb[i])
		}
		if d, ok := acked.Load(ra[i].off); ok {
			if d.(string) != ra[i].data {
				t.Fatalf("#%d off %d delivered %q, acked for %q", i, ra[i].off, ra[i].data, d)
			}
			nAcked++
			continue
		}
		if _, ok := refusedData.Load(ra[i].data); ok {
			t.Fatalf("#%d %q was refused at once but delivered", i, ra[i].data)
		}
		if _, ok := failed.Load(ra[i].data); !ok {
			t.Fatalf("#%d %q delivered but neither acked nor failed", i, ra[i].data)
		}
		lateFailed++
	}
	total := 0
	acked.Range(func(any, any) bool { total++; return true })
	if nAcked != total {
		t.Fatalf("%d acked publications delivered, %d acked", nAcked, total)
	}
	if st := a.bus.Stats(); st.Lost != 0 {
		t.Fatalf("lost %d", st.Lost)
	}
	t.Logf("acked %d, refused at once %d, failed after being taken %d (of which stored and delivered %d)",
		total, refused.Load(), countMap(&failed), lateFailed)
}

func countMap(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
