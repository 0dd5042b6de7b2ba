package cluster

import (
	"fmt"
	"testing"

	"github.com/starling-ws/starling/shard"
)

// TestLateNodeResume: node B starts after A published; a client resumes
// on B from an offset B never saw. B fetches the range from the stream,
// hands it to its hub, and the hub's resume (offset + predecessor) replays
// exactly the missed publications, then live ones follow.
func TestLateNodeResume(t *testing.T) {
	ns := startNATS(t)
	a := newNode(t, testCfg(ns.url()))
	a.waitReady(t)
	const ch = "late.ch"
	offs := publishN(t, a.bus, ch, 30, "other") // offsets of ch are not contiguous
	b := newNode(t, testCfg(ns.url()))
	b.waitReady(t)

	all, err := b.bus.Fetch(t.Context(), []byte(ch), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 30 {
		t.Fatalf("Fetch after 0: %d, want 30", len(all))
	}
	var prev uint64
	for i, p := range all {
		if p.Off != offs[i] || p.Prev != prev || string(p.Data) != fmt.Sprintf("m%d", i) {
			t.Fatalf("#%d: %+v, want off %d prev %d", i, p, offs[i], prev)
		}
		prev = p.Off
	}
	if got, _ := b.bus.Fetch(t.Context(), []byte(ch), offs[9], 5); len(got) != 5 || got[0].Prev != offs[9] || got[4].Off != offs[14] {
		t.Fatalf("Fetch after %d max 5: %+v", offs[9], got)
	}

	// The server's part of a resume on B: fetch after since, hand it to
	// the hub in order, then subscribe with since.
	since := shard.Position{Off: offs[9], Epoch: b.bus.Epoch()}
	pubs, err := b.bus.Fetch(t.Context(), []byte(ch), since.Off, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 20 || pubs[0].Prev != since.Off {
		t.Fatalf("resume fetch: %d, first prev %d; want 20, %d", len(pubs), pubs[0].Prev, since.Off)
	}
	for _, p := range pubs {
		b.Deliver([]byte(ch), p.Off, p.Prev, b.bus.Epoch(), p.Data, p.Enc)
	}
	s := subscribe(t, b.hub, ch, &since, ackRec{})
	off, err := publishOne(a.bus, ch, "live")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ack, 20 replayed, 1 live", func() bool { return len(s.got()) == 22 })
	got := s.got()
	if got[0].data != "ack:true" || got[0].off != offs[29] {
		t.Fatalf("ack %+v, want recovered at %d", got[0], offs[29])
	}
	for i := 1; i <= 20; i++ {
		if got[i].off != offs[9+i] || got[i].data != fmt.Sprintf("m%d", 9+i) {
			t.Fatalf("replay #%d: %+v, want off %d", i, got[i], offs[9+i])
		}
	}
	if got[21].off != off || got[21].data != "live" {
		t.Fatalf("live: %+v, want off %d", got[21], off)
	}
}

// TestFetchBeyondHistory: the stream keeps HistorySize publications per
// channel; a resume from before them gets a first predecessor that is not
// its offset (0: nothing stored before), so the hub answers recovered:
// false rather than replay a gap.
func TestFetchBeyondHistory(t *testing.T) {
	ns := startNATS(t)
	cfg := testCfg(ns.url())
	cfg.HistorySize = 10
	a := newNode(t, cfg)
	a.waitReady(t)
	const ch = "short"
	offs := publishN(t, a.bus, ch, 30, "")
	pubs, err := a.bus.Fetch(t.Context(), []byte(ch), offs[5], 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 10 || pubs[0].Off != offs[20] || pubs[0].Prev != 0 {
		t.Fatalf("fetch after an offset the stream dropped: %d pubs, first %+v; want 10 from %d with prev 0", len(pubs), pubs[0], offs[20])
	}
	b := newNode(t, cfg)
	b.waitReady(t)
	for _, p := range pubs {
		b.Deliver([]byte(ch), p.Off, p.Prev, b.bus.Epoch(), p.Data, p.Enc)
	}
	since := shard.Position{Off: offs[5], Epoch: b.bus.Epoch()}
	s := subscribe(t, b.hub, ch, &since, ackRec{})
	waitFor(t, "ack", func() bool { return len(s.got()) == 1 })
	if got := s.got()[0]; got.data != "ack:false" {
		t.Fatalf("ack %+v, want recovered false", got)
	}
	// An offset still stored resumes.
	since.Off = offs[25]
	s = subscribe(t, b.hub, ch, &since, ackRec{})
	waitFor(t, "ack and 4", func() bool { return len(s.got()) == 5 })
	if got := s.got(); got[0].data != "ack:true" || got[4].off != offs[29] {
		t.Fatalf("resume from a stored offset: %+v", got)
	}
	if _, err := a.bus.Fetch(t.Context(), []byte("a b"), 0, 1); err != ErrChannel {
		t.Fatalf("Fetch of an invalid name: %v", err)
	}
}

// publishN publishes "m0".."m<n-1>" on ch one at a time and returns their
// offsets; with other set, one publication on other follows each.
func publishN(tb testing.TB, b *Bus, ch string, n int, other string) []uint64 {
	tb.Helper()
	offs := make([]uint64, n)
	for i := range offs {
		off, err := publishOne(b, ch, fmt.Sprintf("m%d", i))
		if err != nil {
			tb.Fatal(err)
		}
		offs[i] = off
		if other != "" {
			if _, err := publishOne(b, other, "x"); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return offs
}
