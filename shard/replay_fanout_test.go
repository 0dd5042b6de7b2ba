package shard

import (
	"testing"
	"time"
)

// gatePayload's text-class frame blocks until release is closed (after
// saying so on started): it holds the worker at the start of a fan-out
// run, so that a join is certain to be served between its chunks.
type gatePayload struct {
	started, release chan struct{}
}

func (p *gatePayload) Frame(cls Class, ch string, off uint64) []byte {
	if cls == 1 {
		close(p.started)
		<-p.release
	}
	return seqPayload{}.Frame(cls, ch, off)
}
func (p *gatePayload) Size() int { return seqLen }

// TestReplayDuringFanout: a resume (a join with a replay) served between
// two chunks of a large fan-out must not cost the rest of that fan-out's
// recipients their frame. The replay once used the run's own frame
// buffer as scratch and left it empty, so every member after the join
// point silently missed the publication (found by bench cluster: whole
// nodes' subscribers missing one offset while a drained node's clients
// resumed there).
func TestReplayDuringFanout(t *testing.T) {
	fanned := make(chan int, 4)
	h := newTestHub(t, Config{Shards: 1, History: HistoryConfig{Size: 8, TTL: 60, Memory: 1 << 20},
		OnFanout: func(_ time.Duration, n int) { fanned <- n }})
	gate := add(h, nullConn(), 0) // class 1, first in the group: its frame is built first
	subT(t, h, gate, "x", 1)
	const members = 4 * (ctlEvery + 1)
	for range members {
		subT(t, h, add(h, nullConn(), 0), "x", 0)
	}
	if _, err := h.Publish([]byte("x"), both([]byte("b"), []byte("t"))); err != nil {
		t.Fatal(err)
	}
	if n := <-fanned; n != members+1 {
		t.Fatalf("first publish reached %d of %d", n, members+1)
	}
	since := Position{Off: 1}
	since.Epoch = mustOffset(t, h, "x").Epoch
	p := &gatePayload{started: make(chan struct{}), release: make(chan struct{})}
	if _, err := h.Publish([]byte("x"), p); err != nil {
		t.Fatal(err)
	}
	<-p.started
	// The worker is inside the run: this resume (since offset 1, so it
	// replays offset 2) is served at the first chunk boundary.
	c, r := sockConn(t, 0, false)
	l := add(h, c, 0)
	l.Reserve(MaxSubscriptions)
	if err := h.Subscribe(l, []byte("x"), 0, &since, seqAck{}); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if n := <-fanned; n != members+1 {
		t.Fatalf("the publish fanned out while a resume replayed reached %d of %d members", n, members+1)
	}
	// The resumed member got its ack (recovered at 2), then offset 2.
	fr := &frameReader{t: t, r: r}
	if kind, flags, _, off := fr.next(); kind != 'A' || flags[0] != 1 || off != 2 {
		t.Fatalf("ack %q %v %d", kind, flags, off)
	}
	if kind, _, _, off := fr.next(); kind != 'B' || off != 2 {
		t.Fatalf("replay %q %d, want offset 2", kind, off)
	}
}

func mustOffset(t *testing.T, h *Hub, ch string) Position {
	t.Helper()
	pos, ok := h.Offset([]byte(ch))
	if !ok {
		t.Fatalf("no channel %s", ch)
	}
	return pos
}
