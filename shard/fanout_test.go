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
func reader(t *testing.T, wg *sync.WaitGroup, r *os.File, class Class, perChan map[byte]uint64) {
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
		if !failed && buf[0] != 'B'+byte(class) {
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
		l := add(h, c, 0)
		class := Class(k % 2)
		for _, id := range chans {
			subT(t, h, l, string(id), class)
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
				if off, err := h.Publish([]byte{id}, seqPayload{}); off == 0 || err != nil {
					t.Errorf("publish: off %d err %v", off, err)
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
		l := add(h, c, 0)
		subT(t, h, l, "a", Class(k%2))
		subT(t, h, l, "z", Class(k%2))
		rd.Add(1)
		go reader(t, &rd, r, Class(k%2), want)
	}
	for _, id := range pattern {
		h.Publish([]byte{id}, seqPayload{})
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
	rs, rg := add(h, stuck, 0), add(h, good, 0)
	ch := []byte("firehose")
	subT(t, h, rs, "firehose", 0)
	subT(t, h, rg, "firehose", 0)
	b := &staticPayload{f: [NClass][]byte{make([]byte, 64<<10)}}
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
		subT(t, h, add(h, nullConn(), 0), "c", Class(k%2))
	}
	if _, err := h.Publish(ch, both([]byte("x"), []byte("y"))); err != nil {
		t.Fatal(err)
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
		subT(t, h, add(h, nullConn(), 0), "c", 0)
	}
	b := &staticPayload{f: [NClass][]byte{[]byte("x")}}
	for range 10 {
		h.Publish(ch, b)
	}
	h.Start()
	h.Stop()
	if got := h.Stats().Deliveries; got != 40 {
		t.Fatalf("Stop left fan-outs unwritten: %d of 40 deliveries", got)
	}
	if off, err := h.Publish(ch, b); off != 0 || err != ErrStopped {
		t.Fatalf("publish after Stop: %d %v", off, err)
	}
	if err := h.Subscribe(add(h, nullConn(), 0), ch, 0, nil, noAck{}); err != ErrStopped {
		t.Fatalf("subscribe after Stop: %v", err)
	}
	h.Flush() // returns at once
	h.Stop()  // idempotent
}
