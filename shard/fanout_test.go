package shard

import (
	"encoding/binary"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/starling-ws/starling/poller"
)

// reader checks one recipient's stream: every frame of its class, and per
// channel the offsets 1, 2, 3 ... with none missing or reordered.
func reader(t *testing.T, wg *sync.WaitGroup, r *os.File, class byte, perChan map[byte]uint64) {
	defer wg.Done()
	total := uint64(0)
	for _, n := range perChan {
		total += n
	}
	next := map[byte]uint64{}
	buf := make([]byte, seqLen)
	failed := false
	// Keep reading after a mismatch: a reader that stops would leave the
	// shard worker blocked on a full socket.
	for range total {
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Errorf("read: %v", err)
			return
		}
		ch, off := buf[1], binary.LittleEndian.Uint64(buf[8:])
		if !failed && buf[0] != 'B'+class {
			t.Errorf("class %d recipient got a frame of class %q", class, buf[0])
			failed = true
		}
		if want := next[ch] + 1; !failed && off != want {
			t.Errorf("channel %c: got offset %d, want %d", ch, off, want)
			failed = true
		}
		next[ch] = off
	}
}

// TestOrderConcurrentPublishers: four publishers per channel, two channels,
// recipients of both classes spread over four shards; every recipient must
// see each channel's offsets in order without gaps.
func TestOrderConcurrentPublishers(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	const perPublisher, publishers = 1000, 8
	chans := []byte{'a', 'z'}
	var rd sync.WaitGroup
	for k := range 8 {
		c, r := sockConn(t, 0, false)
		ref := h.Add(c, 0)
		class := uint8(k % 2)
		for _, id := range chans {
			if !h.Subscribe(ref, []byte{id}, class) {
				t.Fatal("subscribe failed")
			}
		}
		rd.Add(1)
		go reader(t, &rd, r, class, map[byte]uint64{'a': publishers / 2 * perPublisher, 'z': publishers / 2 * perPublisher})
	}
	var pub sync.WaitGroup
	for p := range publishers {
		id := chans[p%2]
		pub.Add(1)
		go func() {
			defer pub.Done()
			for range perPublisher {
				if off, n := h.Publish([]byte{id}, seqBuilder{ch: id}); off == 0 || n != 8 {
					t.Errorf("publish: off %d recipients %d", off, n)
					return
				}
			}
		}()
	}
	pub.Wait()
	waitOrFail(t, &rd, 20*time.Second)
	h.Flush()
	if st := h.Stats(); st.Deliveries != 8*publishers*perPublisher || st.Publishes != publishers*perPublisher {
		t.Fatalf("stats %+v", st)
	}
}

// TestQueuedBurstGrouped publishes before Start, so each worker finds the
// whole burst in one batch: runs of one channel go out as one Writev per
// recipient, interleaved with the other channel, and order must hold.
func TestQueuedBurstGrouped(t *testing.T) {
	h, err := New(Config{Shards: 2, Clock: NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	var rd sync.WaitGroup
	want := map[byte]uint64{}
	pattern := []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaazaaazzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzazazaza")
	for _, id := range pattern {
		want[id]++
	}
	for k := range 4 {
		c, r := sockConn(t, 0, false)
		ref := h.Add(c, 0)
		h.Subscribe(ref, []byte("a"), uint8(k%2))
		h.Subscribe(ref, []byte("z"), uint8(k%2))
		rd.Add(1)
		go reader(t, &rd, r, uint8(k%2), want)
	}
	for _, id := range pattern {
		h.Publish([]byte{id}, seqBuilder{ch: id})
	}
	h.Start()
	waitOrFail(t, &rd, 10*time.Second)
	h.Flush()
	if got := h.Stats().Deliveries; got != uint64(4*len(pattern)) {
		t.Fatalf("deliveries %d, want %d", got, 4*len(pattern))
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("readers did not finish within %v", d)
	}
}

// TestSlowRecipient: a peer that never reads fills its socket, then its
// bounded queue; OnSlow names it, the others keep receiving.
func TestSlowRecipient(t *testing.T) {
	slowCh := make(chan *poller.Conn, 16)
	h := newTestHub(t, Config{Shards: 2, OnSlow: func(c *poller.Conn) {
		select {
		case slowCh <- c:
		default:
		}
	}})
	stuck, _ := sockConn(t, 4096, true)
	good := nullConn()
	rs, rg := h.Add(stuck, 0), h.Add(good, 0)
	ch := []byte("firehose")
	h.Subscribe(rs, ch, 0)
	h.Subscribe(rg, ch, 0)
	b := &staticBuilder{f: Frames{make([]byte, 64<<10)}}
	var got *poller.Conn
	pubs := 0
	for got == nil && pubs < 200 {
		h.Publish(ch, b)
		pubs++
		h.Flush()
		select {
		case got = <-slowCh:
		default:
		}
	}
	if got != stuck {
		t.Fatalf("after %d publishes of 64 KiB OnSlow reported %p, want the stuck conn %p", pubs, got, stuck)
	}
	st := h.Stats()
	if st.Slow < 1 || st.Deliveries < uint64(pubs) {
		t.Fatalf("stats after %d publishes: %+v", pubs, st)
	}
}

func TestOnFanout(t *testing.T) {
	type done struct {
		d time.Duration
		n int
	}
	got := make(chan done, 4)
	h := newTestHub(t, Config{Shards: 4, OnFanout: func(d time.Duration, n int) { got <- done{d, n} }})
	ch := []byte("c")
	for k := range 10 {
		h.Subscribe(h.Add(nullConn(), 0), ch, uint8(k%2))
	}
	if _, n := h.Publish(ch, &staticBuilder{f: Frames{[]byte("x"), []byte("y")}}); n != 10 {
		t.Fatalf("recipients %d", n)
	}
	h.Flush()
	select {
	case d := <-got:
		if d.n != 10 || d.d < 0 {
			t.Fatalf("OnFanout(%v, %d), want 10 recipients", d.d, d.n)
		}
	default:
		t.Fatal("OnFanout not called")
	}
	if len(got) != 0 {
		t.Fatal("OnFanout called more than once for one publish")
	}
}

func TestStopDrainsAndRefuses(t *testing.T) {
	h, err := New(Config{Shards: 2, Clock: NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	ch := []byte("c")
	for range 4 {
		h.Subscribe(h.Add(nullConn(), 0), ch, 0)
	}
	b := &staticBuilder{f: Frames{[]byte("x")}}
	for range 10 {
		h.Publish(ch, b)
	}
	h.Start()
	h.Stop()
	if got := h.Stats().Deliveries; got != 40 {
		t.Fatalf("Stop left fan-outs unwritten: %d of 40 deliveries", got)
	}
	if off, n := h.Publish(ch, b); off != 0 || n != 0 {
		t.Fatalf("publish after Stop: %d %d", off, n)
	}
	h.Flush() // returns at once
	h.Stop()  // idempotent
}
