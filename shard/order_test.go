package shard

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/starling-ws/starling/poller"
)

// frameReader reads a recipient's 16-byte frames (seqPayload and seqAck).
type frameReader struct {
	t   *testing.T
	r   *os.File
	buf [seqLen]byte
}

// next reads one frame; on a read error it reports it, closes the reader
// (so a worker blocked writing to it gets EPIPE and the hub can stop) and
// returns kind 0. It may run on any goroutine.
func (fr *frameReader) next() (kind byte, flags [2]byte, ch byte, off uint64) {
	fr.t.Helper()
	fr.r.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(fr.r, fr.buf[:]); err != nil {
		fr.t.Errorf("read: %v", err)
		fr.r.Close()
		return 0, [2]byte{}, 0, 0
	}
	b := fr.buf
	return b[0], [2]byte{b[2], b[3]}, b[1], binary.LittleEndian.Uint64(b[8:])
}

// available is how many bytes (up to 64) wait to be read on r, without
// reading them or blocking: a check that can run inside a worker callback.
func available(t *testing.T, r *os.File) int {
	t.Helper()
	raw, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	raw.Control(func(fd uintptr) {
		var buf [64]byte
		n, _, _ = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n
}

// TestJoinDuringBurstNoGapNoDuplicate: late joiners subscribe while four
// publishers keep publishing; each must read its ack (offset J), then
// exactly J+1, J+2, ... with no gap and no duplicate, however the join
// interleaved with publishes still queued for its shard.
func TestJoinDuringBurstNoGapNoDuplicate(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2})
	// A few early members keep the channel's groups busy on both shards.
	for range 4 {
		subT(t, h, add(h, nullConn(), 0), "x", 0)
	}
	const publishers, perPublisher, joiners = 4, 3000, 16
	var published atomic.Int64
	var pubWG sync.WaitGroup
	for range publishers {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			for range perPublisher {
				if _, err := h.Publish([]byte("x"), seqPayload{}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				published.Add(1)
			}
		}()
	}
	type joiner struct {
		r *os.File
		l *Link
	}
	var js []joiner
	for k := range joiners {
		// Join at spread points of the burst.
		for published.Load() < int64(k*publishers*perPublisher/joiners/2) {
			time.Sleep(50 * time.Microsecond)
		}
		c, r := sockConn(t, 0, false)
		l := add(h, c, 0)
		l.Reserve(1)
		if err := h.Subscribe(l, []byte("x"), Class(k%2), nil, seqAck{}); err != nil {
			t.Fatal(err)
		}
		js = append(js, joiner{r, l})
	}
	var rd sync.WaitGroup
	for k, j := range js {
		rd.Add(1)
		go func() {
			defer rd.Done()
			fr := &frameReader{t: t, r: j.r}
			defer j.r.Close() // unblocks the worker if this reader gives up
			kind, _, _, start := fr.next()
			if kind != 'A' {
				t.Errorf("joiner %d: first frame %q, want the ack", k, kind)
				return
			}
			want := start + 1
			for want <= publishers*perPublisher {
				kind, _, _, off := fr.next()
				if kind != 'B'+byte(k%2) || off != want {
					t.Errorf("joiner %d (ack at %d): got %q off %d, want off %d", k, start, kind, off, want)
					return
				}
				want++
			}
		}()
	}
	pubWG.Wait()
	waitOrFail(t, &rd, 30*time.Second)
	h.check(t)
	if st := h.Stats(); st.Pending != 0 {
		t.Fatalf("pending members left after the burst: %d", st.Pending)
	}
}

// TestControlServedMidFanout: a join posted while a long fan-out is being
// written gets its ack before the fan-out ends: the worker serves its
// control inbox between chunks of recipients (issue 9: nothing waits
// behind a broadcast).
func TestControlServedMidFanout(t *testing.T) {
	var h *Hub
	probe, peer := sockConn(t, 0, false)
	probeLink := new(Link)
	ackSeen := make(chan int, 1)
	h = newTestHub(t, Config{Shards: 1, OnFanout: func(time.Duration, int) {
		// Runs on the worker right after the last write of the fan-out.
		ackSeen <- available(t, peer)
	}})
	const n = 20 * (ctlEvery + 1)
	for range n {
		subT(t, h, add(h, nullConn(), 0), "big", 0)
	}
	h.Add(probeLink, probe, 0)
	h.Flush()
	p := &hookPayload{f: make([]byte, 64), hook: func() {
		// Called on the worker as the fan-out starts: the join lands in
		// the inbox while the fan-out runs. (Payloads must not call the
		// hub; this one may, as nothing here retains history, the only
		// path that takes a task's lock under a stripe lock.)
		probeLink.Reserve(1)
		if err := h.Subscribe(probeLink, []byte("probe"), 0, nil, seqAck{}); err != nil {
			t.Error(err)
		}
	}}
	if _, err := h.Publish([]byte("big"), p); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ackSeen:
		if got < seqLen {
			t.Fatalf("the probe's ack was not written before a %d-recipient fan-out ended (%d bytes waiting)", n, got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no fan-out")
	}
}

type hookPayload struct {
	f    []byte
	once sync.Once
	hook func()
}

func (p *hookPayload) Frame(Class, string, uint64) []byte {
	p.once.Do(p.hook)
	return p.f
}
func (p *hookPayload) Size() int { return len(p.f) }

// TestUnsubscribeAckIsLast: after an unsub's ack, no publication of the
// channel reaches the connection, while publishes keep coming.
func TestUnsubscribeAckIsLast(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2})
	c, r := sockConn(t, 0, false)
	l := add(h, c, 0)
	subT(t, h, l, "x", 1)
	subT(t, h, add(h, nullConn(), 0), "x", 0) // the channel outlives the leaver
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.Publish([]byte("x"), seqPayload{})
		}
	}()
	time.Sleep(5 * time.Millisecond) // let some publishes through first (not synchronisation)
	ack := make([]byte, seqLen)
	ack[0] = 'U'
	if !h.Unsubscribe(l, []byte("x"), ack) {
		t.Fatal("unsubscribe not queued")
	}
	fr := &frameReader{t: t, r: r}
	for {
		kind, _, _, _ := fr.next()
		if kind == 'U' {
			break
		}
		if kind == 0 {
			t.FailNow()
		}
	}
	close(stop)
	wg.Wait()
	h.Flush()
	// Nothing may follow the ack: close the writer side and read to EOF.
	syscall.Shutdown(c.Fd(), syscall.SHUT_WR)
	r.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, _ := io.ReadAll(r)
	if len(rest) != 0 {
		t.Fatalf("%d bytes arrived after the unsub's ack", len(rest))
	}
}

// TestBackpressure: a shard queue over QueueBytes refuses publishes with
// ErrBusy (nothing is taken: no offset), and the queue's bytes come back
// once written.
func TestBackpressure(t *testing.T) {
	h := newTestHub(t, Config{Shards: 1, QueueBytes: 10 * seqLen})
	c, r := sockConn(t, 0, false)
	subT(t, h, add(h, c, 0), "x", 0)
	// Stall the worker in a write to the peer that is not reading. A
	// publish bigger than the whole bound is let through alone (issue 14:
	// one frame's own size is not slowness).
	big := &staticPayload{f: [NClass][]byte{make([]byte, 8<<20)}}
	h.Flush()
	off, err := h.Publish([]byte("x"), big)
	if err != nil {
		t.Fatalf("a publish larger than QueueBytes into an empty queue: %v", err)
	}
	var busy error
	for range 100 {
		o, err := h.Publish([]byte("x"), seqPayload{})
		if err == ErrBusy {
			busy = err
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		off = o
	}
	if busy == nil {
		t.Fatal("100 publishes queued behind a stalled worker with QueueBytes 160: never ErrBusy")
	}
	pos, _ := h.Offset([]byte("x"))
	if pos.Off != off {
		t.Fatalf("a refused publish took an offset: last accepted %d, channel at %d", off, pos.Off)
	}
	go io.Copy(io.Discard, r)
	h.Flush()
	if st := h.Stats(); st.QueuedBytes != 0 {
		t.Fatalf("queue bytes after the burst: %d", st.QueuedBytes)
	}
	if _, err := h.Publish([]byte("x"), seqPayload{}); err != nil {
		t.Fatalf("publish after the queue drained: %v", err)
	}
}

// TestMaxChannels: the channel limit refuses the channel that would pass
// it, for Subscribe and (with history) Publish, while every channel has
// subscribers; a channel without subscribers (kept for resumes) gives way
// to a new one, least recently used first.
func TestMaxChannels(t *testing.T) {
	clk := NewClock()
	h := newTestHub(t, Config{Shards: 2, MaxChannels: 3, Clock: clk,
		History: HistoryConfig{Size: 4, TTL: 60, Memory: 1 << 20}})
	l := add(h, nullConn(), 0)
	for i := range 2 {
		subT(t, h, l, fmt.Sprintf("c%d", i), 0)
	}
	if _, err := h.Publish([]byte("kept"), seqPayload{}); err != nil { // history makes a channel
		t.Fatal(err)
	}
	// "kept" has no subscriber: the 4th channel takes its place.
	subT(t, h, l, "c2", 0)
	h.check(t)
	if st := h.Stats(); st.Channels != 3 || st.IdleEvicted != 1 {
		t.Fatalf("channels %d, idle evicted %d; want 3, 1", st.Channels, st.IdleEvicted)
	}
	if _, ok := h.Offset([]byte("kept")); ok {
		t.Fatal(`"kept" still exists`)
	}
	// Every channel has a subscriber now: a 4th is refused, both ways.
	l.Reserve(10)
	if err := h.Subscribe(l, []byte("c3"), 0, nil, noAck{}); err != ErrTooManyChannels {
		t.Fatalf("4th channel by subscribe: %v", err)
	}
	l.Unreserve()
	if _, err := h.Publish([]byte("c4"), seqPayload{}); err != ErrTooManyChannels {
		t.Fatalf("4th channel by publish: %v", err)
	}
	// Existing channels still take subscribers and publishes.
	subT(t, h, add(h, nullConn(), 0), "c0", 1)
	if _, err := h.Publish([]byte("c1"), seqPayload{}); err != nil {
		t.Fatal(err)
	}
	// The last subscriber of c1 leaves: c1 is kept (its epoch, for a
	// resume) until a new channel needs the room.
	h.Unsubscribe(l, []byte("c1"), nil)
	h.check(t)
	if _, ok := h.Offset([]byte("c1")); !ok {
		t.Fatal("c1 dropped at once")
	}
	subT(t, h, l, "c3", 0)
	h.check(t)
	if _, ok := h.Offset([]byte("c1")); ok {
		t.Fatal("c1 not evicted for c3")
	}
	if st := h.Stats(); st.Channels != 3 || st.IdleEvicted != 2 {
		t.Fatalf("channels %d, idle evicted %d; want 3, 2", st.Channels, st.IdleEvicted)
	}
}

// TestEvictIdleBounded: the search for an idle channel to evict walks at
// most evictScan channels of the stripe's LRU list: behind that many
// subscribed ones, an idle channel is not found and the create is refused.
func TestEvictIdleBounded(t *testing.T) {
	clk := NewClock()
	const subscribed = evictScan
	h := newTestHub(t, Config{Shards: 1, MaxChannels: subscribed + 1, Clock: clk,
		History: HistoryConfig{Size: 4, TTL: 60, Memory: 1 << 20}})
	// Names that all fall in one stripe.
	var names []string
	want := -1
	for i := 0; len(names) < subscribed+3; i++ {
		n := fmt.Sprint("n", i)
		st := int(stripeOfHash(maphash.String(h.seed, n)))
		if want < 0 {
			want = st
		}
		if st == want {
			names = append(names, n)
		}
	}
	l := add(h, nullConn(), 0)
	l.Reserve(100)
	// evictScan subscribed channels, published first (the LRU head is the
	// least recent), then the idle one behind them.
	for _, n := range names[:subscribed] {
		if err := h.Subscribe(l, []byte(n), 0, nil, noAck{}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Publish([]byte(n), seqPayload{}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance()
	if _, err := h.Publish([]byte(names[subscribed]), seqPayload{}); err != nil { // idle, retained, at the tail
		t.Fatal(err)
	}
	h.check(t)
	if err := h.Subscribe(l, []byte(names[subscribed+1]), 0, nil, noAck{}); err != ErrTooManyChannels {
		t.Fatalf("idle channel %d deep found: %v", subscribed, err)
	}
	// n0's last subscriber leaves: n0 moves to the tail (idle, touched),
	// which brings the first idle channel within the walk's reach.
	h.Unsubscribe(l, []byte(names[0]), nil)
	h.check(t)
	if err := h.Subscribe(l, []byte(names[subscribed+1]), 0, nil, noAck{}); err != nil {
		t.Fatalf("with an idle channel at the head: %v", err)
	}
	if st := h.Stats(); st.IdleEvicted != 1 {
		t.Fatalf("idle evicted %d, want 1", st.IdleEvicted)
	}
}

// TestWorkerContainsPanics: a panicking Payload or OnTimer is contained:
// the worker reports it and goes on serving.
func TestWorkerContainsPanics(t *testing.T) {
	var panics atomic.Int64
	clk := NewClock()
	h := newTestHub(t, Config{Shards: 1, Clock: clk,
		OnPanic: func(where string, v any, stack []byte) { panics.Add(1) },
		OnTimer: func(c *poller.Conn, now uint32) uint32 { panic("timer") },
	})
	add(h, nullConn(), 2)
	l := add(h, nullConn(), 0)
	subT(t, h, l, "x", 0)
	if _, err := h.Publish([]byte("x"), panicPayload{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance()
	clk.Advance()
	h.Flush()
	if _, err := h.Publish([]byte("x"), seqPayload{}); err != nil {
		t.Fatal(err)
	}
	h.Flush()
	if n := panics.Load(); n != 2 {
		t.Fatalf("contained %d panics, want 2 (payload, timer)", n)
	}
	if st := h.Stats(); st.Deliveries != 1 {
		t.Fatalf("after the panics the worker delivered %d, want 1", st.Deliveries)
	}
	h.check(t)
}

type panicPayload struct{}

func (panicPayload) Frame(Class, string, uint64) []byte { panic("payload") }
func (panicPayload) Size() int                          { return 1 }
