package shard

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

func histHub(t *testing.T, hc HistoryConfig, clk *Clock) *Hub {
	t.Helper()
	if clk == nil {
		clk = NewClock()
	}
	return newTestHub(t, Config{Shards: 2, Clock: clk, History: hc})
}

// joinSince subscribes a fresh socket connection with since and returns its
// reader; the first frame it reads is the ack.
func joinSince(t *testing.T, h *Hub, ch string, since *Position) *frameReader {
	t.Helper()
	c, r := sockConn(t, 0, false)
	l := add(h, c, 0)
	l.Reserve(1)
	if err := h.Subscribe(l, []byte(ch), 1, since, seqAck{}); err != nil {
		t.Fatal(err)
	}
	return &frameReader{t: t, r: r}
}

// expect reads the ack (recovered flag and offset) then the offsets given.
func (fr *frameReader) expect(recovered bool, ackOff uint64, offs ...uint64) {
	fr.t.Helper()
	kind, flags, _, off := fr.next()
	if kind != 'A' || (flags[0] == 1) != recovered || off != ackOff {
		fr.t.Fatalf("ack: kind %q recovered %v off %d, want recovered %v off %d", kind, flags[0] == 1, off, recovered, ackOff)
	}
	for _, want := range offs {
		if kind, _, _, off := fr.next(); kind != 'C' || off != want {
			fr.t.Fatalf("got %q off %d, want a msg with off %d", kind, off, want)
		}
	}
}

func TestHistoryResume(t *testing.T) {
	h := histHub(t, HistoryConfig{Size: 5, TTL: 60, Memory: 1 << 20, MaxReplay: 4}, nil)
	for range 10 {
		if _, err := h.Publish([]byte("x"), seqPayload{}); err != nil {
			t.Fatal(err)
		}
	}
	pos, ok := h.Offset([]byte("x"))
	if !ok || pos.Off != 10 || pos.Epoch == 0 {
		t.Fatalf("a channel with history but no subscriber: %+v %v", pos, ok)
	}
	// Kept: 6..10.
	joinSince(t, h, "x", &Position{7, pos.Epoch}).expect(true, 10, 8, 9, 10)
	joinSince(t, h, "x", &Position{10, pos.Epoch}).expect(true, 10)
	joinSince(t, h, "x", &Position{5, pos.Epoch}).expect(false, 10) // older than what is kept
	joinSince(t, h, "x", &Position{6, pos.Epoch}).expect(true, 10, 7, 8, 9, 10)
	joinSince(t, h, "x", &Position{5, pos.Epoch + 1}).expect(false, 10) // another epoch
	joinSince(t, h, "x", &Position{11, pos.Epoch}).expect(false, 10)    // from the future
	h2 := histHub(t, HistoryConfig{Size: 5, TTL: 60, Memory: 1 << 20, MaxReplay: 2}, nil)
	for range 10 {
		h2.Publish([]byte("x"), seqPayload{})
	}
	p2, _ := h2.Offset([]byte("x"))
	joinSince(t, h2, "x", &Position{7, p2.Epoch}).expect(false, 10) // 3 missing > MaxReplay 2
	joinSince(t, h2, "x", &Position{8, p2.Epoch}).expect(true, 10, 9, 10)
	h.check(t)
}

// TestHistoryReplayDuringBurst: a subscriber resumes while publishers keep
// publishing: ack, replay, live, with no gap and no duplicate.
func TestHistoryReplayDuringBurst(t *testing.T) {
	h := histHub(t, HistoryConfig{Size: 30000, TTL: 600, Memory: 64 << 20}, nil) // room for every publish: the gap is always replayable
	subT(t, h, add(h, nullConn(), 0), "x", 0)
	const total = 20000
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range total / 2 {
				if _, err := h.Publish([]byte("x"), seqPayload{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var pos Position
	for {
		var ok bool
		if pos, ok = h.Offset([]byte("x")); ok && pos.Off >= 5000 {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	since := Position{pos.Off - 3000, pos.Epoch}
	fr := joinSince(t, h, "x", &since)
	kind, flags, _, ack := fr.next()
	if kind != 'A' || flags[0] != 1 {
		t.Fatalf("ack %q recovered %d", kind, flags[0])
	}
	for want := since.Off + 1; want <= total; want++ {
		if kind, _, _, off := fr.next(); kind != 'C' || off != want {
			t.Fatalf("after since %d (ack at %d): got %q off %d, want %d", since.Off, ack, kind, off, want)
		}
	}
	wg.Wait()
}

// TestHistoryLifetime: a channel with history outlives its last subscriber
// by TTL (same epoch, offsets go on), then ends; a new one has a new epoch.
// Publications older than TTL expire.
func TestHistoryLifetime(t *testing.T) {
	clk := NewClock()
	h := histHub(t, HistoryConfig{Size: 100, TTL: 10, Memory: 1 << 20}, clk)
	l := add(h, nullConn(), 0)
	subT(t, h, l, "x", 0)
	for range 3 {
		h.Publish([]byte("x"), seqPayload{})
	}
	p1, _ := h.Offset([]byte("x"))
	h.Unsubscribe(l, []byte("x"), nil)
	h.Flush()
	for range 5 {
		clk.Advance()
	}
	if p, ok := h.Offset([]byte("x")); !ok || p != p1 {
		t.Fatalf("5 s after the last subscriber left: %+v %v, want %+v", p, ok, p1)
	}
	h.Publish([]byte("x"), seqPayload{}) // kept without subscribers: the channel lives on
	for range 9 {
		clk.Advance()
	}
	if p, ok := h.Offset([]byte("x")); !ok || p.Off != 4 || p.Epoch != p1.Epoch {
		t.Fatalf("9 s after the last publish: %+v %v", p, ok)
	}
	// The first three are 14 s old: expired; the 4th is kept.
	joinSince(t, h, "x", &Position{1, p1.Epoch}).expect(false, 4)
	joinSince(t, h, "x", &Position{3, p1.Epoch}).expect(true, 4, 4)
	if st := h.Stats(); st.HistoryExpired != 3 || st.HistoryMessages != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A channel nobody uses ends TTL after its last publication.
	h2 := histHub(t, HistoryConfig{Size: 100, TTL: 10, Memory: 1 << 20}, clk)
	h2.Publish([]byte("y"), seqPayload{})
	py, _ := h2.Offset([]byte("y"))
	for range 11 {
		clk.Advance()
	}
	if _, ok := h2.Offset([]byte("y")); ok {
		t.Fatal("a channel nobody used for TTL still exists")
	}
	h2.Publish([]byte("y"), seqPayload{})
	if p, _ := h2.Offset([]byte("y")); p.Epoch == py.Epoch || p.Off != 1 {
		t.Fatalf("a channel re-created after expiry: %+v (old %+v), want a new epoch at 1", p, py)
	}
	h2.check(t)
}

// TestHistoryMemoryBound: publications beyond Memory are evicted, oldest
// channel first, and the retained bytes stay within Memory.
func TestHistoryMemoryBound(t *testing.T) {
	clk := NewClock()
	const memory = 64 * (TaskOverhead + seqLen)
	h := histHub(t, HistoryConfig{Size: 1000, TTL: 600, Memory: memory}, clk)
	for i := range 40 {
		for k := range 4 {
			h.Publish(fmt.Appendf(nil, "c%d", k), seqPayload{})
		}
		if i == 10 {
			clk.Advance()
		}
	}
	clk.Advance() // the sweep enforces the bound across stripes
	st := h.Stats()
	if st.HistoryBytes > memory || st.HistoryEvicted == 0 || st.HistoryMessages == 0 {
		t.Fatalf("after 160 publishes into room for 64: %+v", st)
	}
	// Every channel still serves its most recent publication.
	for k := range 4 {
		p, ok := h.Offset(fmt.Appendf(nil, "c%d", k))
		if !ok || p.Off != 40 {
			t.Fatalf("c%d: %+v %v", k, p, ok)
		}
		joinSince(t, h, fmt.Sprintf("c%d", k), &Position{39, p.Epoch}).expect(true, 40, 40)
	}
}

// TestHistoryMemory measures what one retained publication costs beyond
// its payload and frame, the figure TaskOverhead charges (docs/memory.md).
func TestHistoryMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100k publications")
	}
	const n = 100_000
	h := histHub(t, HistoryConfig{Size: n, TTL: 600, Memory: 1 << 30}, nil)
	subT(t, h, add(h, nullConn(), 0), "x", 0) // so that each publish builds one frame
	h.Flush()
	before := heapAlloc()
	for range n {
		h.Publish([]byte("x"), seqPayload{})
	}
	h.Flush()
	per := float64(int64(heapAlloc())-int64(before)) / n
	frame := float64(seqLen) // seqPayload's frame; the payload value itself is empty
	st := h.Stats()
	t.Logf("retained publication: %.1f B measured (payload 0 B, frame %d B), charged %d B", per, seqLen, st.HistoryBytes/n)
	if over := per - frame; over > TaskOverhead {
		t.Fatalf("a retained publication costs %.1f B beyond its frame, TaskOverhead charges %d", over, TaskOverhead)
	}
	runtime.KeepAlive(h)
}

// TestPublishAtSequencedElsewhere: publishes sequenced by a bus (offsets
// increasing, not contiguous, each naming its predecessor) are delivered in
// order, duplicates dropped, and a resume finds its place by offset and
// checks the predecessor link rather than contiguity.
func TestPublishAtSequencedElsewhere(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2, Epoch: 77, History: HistoryConfig{Size: 4, TTL: 60, Memory: 1 << 20}})
	sub := joinSince(t, h, "x", nil)
	offs := []uint64{10, 13, 20, 21, 40, 44}
	prev := uint64(0)
	for _, off := range offs {
		if ok, err := h.PublishAt([]byte("x"), off, prev, 77, seqPayload{}); !ok || err != nil {
			t.Fatalf("PublishAt %d: %v %v", off, ok, err)
		}
		prev = off
	}
	if ok, _ := h.PublishAt([]byte("x"), 21, 20, 77, seqPayload{}); ok {
		t.Fatal("a duplicate offset was delivered")
	}
	sub.expect(false, 0, offs...) // class 1 frames 'C'
	pos, _ := h.Offset([]byte("x"))
	if pos != (Position{44, 77}) {
		t.Fatalf("position %+v", pos)
	}
	// Kept: 20, 21, 40, 44 (Size 4); 20's predecessor is 13.
	joinSince(t, h, "x", &Position{13, 77}).expect(true, 44, 20, 21, 40, 44)
	joinSince(t, h, "x", &Position{21, 77}).expect(true, 44, 40, 44)
	joinSince(t, h, "x", &Position{44, 77}).expect(true, 44)
	joinSince(t, h, "x", &Position{10, 77}).expect(false, 44) // 13 is gone
	joinSince(t, h, "x", &Position{21, 78}).expect(false, 44)
	// The sequencer's epoch changes (its stream was recreated): history here
	// is dropped and offsets start over.
	if ok, _ := h.PublishAt([]byte("x"), 1, 0, 78, seqPayload{}); !ok {
		t.Fatal("first publish of a new epoch not delivered")
	}
	if pos, _ := h.Offset([]byte("x")); pos != (Position{1, 78}) {
		t.Fatalf("after the epoch change: %+v", pos)
	}
	joinSince(t, h, "x", &Position{0, 78}).expect(true, 1, 1)
}

// TestChannelWithoutPublicationsOutlivesSubscribers: with history on, a
// channel that never had a publication still lives -history-ttl after its
// last subscriber leaves, so a subscriber that saw offset 0 resumes in the
// same epoch with recovered:true (found by the clients' browser test);
// after the TTL it ends.
func TestChannelWithoutPublicationsOutlivesSubscribers(t *testing.T) {
	clk := NewClock()
	h := histHub(t, HistoryConfig{Size: 10, TTL: 10, Memory: 1 << 20}, clk)
	l := add(h, nullConn(), 0)
	subT(t, h, l, "quiet", 0)
	h.Flush()
	p0, _ := h.Offset([]byte("quiet"))
	h.Remove(l)
	h.Flush()
	for range 5 {
		clk.Advance()
	}
	joinSince(t, h, "quiet", &Position{0, p0.Epoch}).expect(true, 0)
	h.check(t)
	h2 := histHub(t, HistoryConfig{Size: 10, TTL: 10, Memory: 1 << 20}, clk)
	l2 := add(h2, nullConn(), 0)
	subT(t, h2, l2, "gone", 0)
	h2.Flush()
	h2.Remove(l2)
	h2.Flush()
	for range 11 {
		clk.Advance()
	}
	if _, ok := h2.Offset([]byte("gone")); ok {
		t.Fatal("an idle channel outlived -history-ttl")
	}
	h2.check(t)
}

// TestResumeThroughFetched: a node whose own history does not reach back to
// since resumes with publications fetched from its bus, chained into its
// own history; a gap anywhere in the chain is recovered:false.
func TestResumeThroughFetched(t *testing.T) {
	h := newTestHub(t, Config{Shards: 1, Epoch: 9, History: HistoryConfig{Size: 3, TTL: 60, Memory: 1 << 20, MaxReplay: 5}})
	// The bus sequenced 5, 8, 11, 12, 15, 20; this node kept the last 3.
	all := []Stored{{5, 0, seqPayload{}}, {8, 5, seqPayload{}}, {11, 8, seqPayload{}}, {12, 11, seqPayload{}}, {15, 12, seqPayload{}}, {20, 15, seqPayload{}}}
	for _, s := range all {
		h.PublishAt([]byte("x"), s.Off, s.Prev, 9, s.P)
	}
	if h.CanRecover([]byte("x"), Position{8, 9}) {
		t.Fatal("the hub's own history (12, 15, 20) claims to resume from 8")
	}
	join := func(since Position, fetched []Stored) *frameReader {
		c, r := sockConn(t, 0, false)
		l := add(h, c, 0)
		l.Reserve(1)
		if err := h.SubscribeFrom(l, []byte("x"), 1, since, fetched, seqAck{}); err != nil {
			t.Fatal(err)
		}
		return &frameReader{t: t, r: r}
	}
	join(Position{8, 9}, all[2:4]).expect(true, 20, 11, 12, 15, 20) // 11, 12 fetched; 15, 20 local
	join(Position{5, 9}, all).expect(true, 20, 8, 11, 12, 15, 20)   // 5 replayed: MaxReplay may exceed Size when the bus has it
	join(Position{0, 9}, all).expect(false, 20)                     // 6 > MaxReplay 5
	join(Position{8, 9}, []Stored{all[3]}).expect(false, 20)        // 11 missing: 12's predecessor is 11, not 8
	join(Position{8, 10}, all[2:]).expect(false, 20)                // another epoch
	// A gap inside the hub's own history is caught too.
	h.PublishAt([]byte("x"), 30, 25, 9, seqPayload{}) // 25 never arrived here
	joinSince(t, h, "x", &Position{15, 9}).expect(false, 30)
}
