package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/starling-ws/starling/poller"
)

func TestNewConfig(t *testing.T) {
	f := func(cfg Config, wantErr bool, wantShards int) {
		t.Helper()
		h, err := New(cfg)
		if (err != nil) != wantErr {
			t.Fatalf("New(%+v): err %v, want error %v", cfg, err, wantErr)
		}
		if err == nil && wantShards > 0 && h.Shards() != wantShards {
			t.Fatalf("New(%+v): %d shards, want %d", cfg, h.Shards(), wantShards)
		}
	}
	clk := NewClock()
	f(Config{}, true, 0) // no clock
	f(Config{Clock: clk, Shards: 3}, true, 0)
	f(Config{Clock: clk, Shards: -1}, true, 0)
	f(Config{Clock: clk, Shards: 512}, true, 0)
	f(Config{Clock: clk, WheelSlots: -4}, true, 0)
	f(Config{Clock: clk, QueueBytes: -1}, true, 0)
	f(Config{Clock: clk, MaxChannels: -1}, true, 0)
	f(Config{Clock: clk, History: HistoryConfig{Size: 10}}, true, 0)          // no TTL
	f(Config{Clock: clk, History: HistoryConfig{Size: 10, TTL: 60}}, true, 0) // no Memory
	f(Config{Clock: clk, History: HistoryConfig{Size: -1, TTL: 60, Memory: 1}}, true, 0)
	f(Config{Clock: clk, History: HistoryConfig{Size: 10, TTL: 60, Memory: 1 << 20}}, false, 0)
	f(Config{Clock: clk, Shards: 4}, false, 4)
	f(Config{Clock: clk, Shards: 1, WheelSlots: 5}, false, 1)
	f(Config{Clock: clk}, false, 0)
}

func TestSubscribeUnsubscribe(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2})
	l := add(h, nullConn(), 0)
	f := func(name string, subs, chans int64) {
		t.Helper()
		h.check(t)
		if st := h.Stats(); st.Subscriptions != subs || st.Channels != chans || l.Subs() != int(subs) {
			t.Fatalf("%s: stats %+v, link subs %d; want %d subscriptions on %d channels", name, st, l.Subs(), subs, chans)
		}
	}
	subT(t, h, l, "news", 0)
	f("first subscribe", 1, 1)
	subT(t, h, l, "news", 1)
	f("second subscribe (duplicate: no change)", 1, 1)
	subT(t, h, l, "other", 1)
	f("other channel", 2, 2)
	if !h.Unsubscribe(l, []byte("news"), nil) {
		t.Fatal("unsubscribe news: not queued")
	}
	f("unsubscribe", 1, 1)
	if h.Unsubscribe(l, []byte("news"), nil) {
		t.Fatal("unsubscribe again: queued, want refused at once")
	}
	if h.Unsubscribe(l, []byte("nope"), nil) {
		t.Fatal("unsubscribe unknown: queued")
	}
	subT(t, h, l, "news", 1)
	f("resubscribe", 2, 2)
	if st := h.Stats(); st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A Link that holds its limit is refused by Reserve.
	if l.Reserve(2) {
		t.Fatal("Reserve(2) with 2 subscriptions: allowed")
	}
	if !l.Reserve(3) {
		t.Fatal("Reserve(3) with 2 subscriptions: refused")
	}
	l.Unreserve()
}

func TestOffsetsAndChannelLifetime(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	b := both([]byte("bin"), []byte("txt"))
	a, c := []byte("a"), []byte("c")

	// No subscribers: no channel, no offset, no Build.
	if off, err := h.Publish(a, b); off != 0 || err != nil || b.calls.Load() != 0 {
		t.Fatalf("publish without subscribers: off %d err %v builds %d", off, err, b.calls.Load())
	}
	l1, l2 := add(h, nullConn(), 0), add(h, nullConn(), 0)
	subT(t, h, l1, "a", 0)
	subT(t, h, l2, "a", 1)
	subT(t, h, l2, "c", 0)
	pub := func(ch []byte, wantOff uint64) {
		t.Helper()
		off, err := h.Publish(ch, b)
		if off != wantOff || err != nil {
			t.Fatalf("publish %s: off %d err %v, want %d", ch, off, err, wantOff)
		}
		if pos, _ := h.Offset(ch); pos.Off != wantOff {
			t.Fatalf("Offset(%s) = %d, want %d", ch, pos.Off, wantOff)
		}
	}
	pub(a, 1)
	pub(a, 2)
	pub(c, 1) // offsets are per channel
	pub(a, 3)
	h.Flush() // fan-outs still queued would miss a connection that leaves now
	h.Unsubscribe(l1, a, nil)
	pub(a, 4) // the channel lives on while anyone is subscribed
	h.Flush()
	epoch, _ := h.Offset(a)
	h.Remove(l2) // last subscriber of a and c: both go
	h.check(t)
	if st := h.Stats(); st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after last subscriber left: %+v", st)
	}
	pub(a, 0)
	subT(t, h, l1, "a", 0)
	pub(a, 1) // a new channel starts again at 1, in a new epoch
	if pos, _ := h.Offset(a); pos.Epoch == epoch.Epoch {
		t.Fatalf("channel recreated with the same epoch %d", pos.Epoch)
	}
	h.Flush()
	if st := h.Stats(); st.Publishes != 6 || st.Deliveries != 2+2+1+2+1+1 {
		t.Fatalf("stats %+v", st)
	}
	// Each publish was built at most once per class in use.
	if n := b.calls.Load(); n > 2*6 {
		t.Fatalf("%d frame builds for 6 publishes", n)
	}
}

// TestStaleRef: requests for a connection that was removed (its Link
// reused for nothing, or still posted by a late caller) change nothing, and
// a slot freed by one connection serves the next without mixing them up.
func TestStaleRef(t *testing.T) {
	h := newTestHub(t, Config{Shards: 1})
	old := add(h, nullConn(), 5)
	subT(t, h, old, "x", 0)
	h.Remove(old)
	c2 := nullConn()
	cur := add(h, c2, 7) // reuses old's slot
	subT(t, h, cur, "y", 0)
	h.Flush()
	if old.slot != -1 || cur.slot != 0 {
		t.Fatalf("slots: removed link %d (want -1), new link %d (want 0, reused)", old.slot, cur.slot)
	}
	// Late requests on the removed link are ignored.
	h.Arm(old, 1)
	old.Reserve(10)
	if err := h.Subscribe(old, []byte("z"), 0, nil, noAck{}); err != nil {
		t.Fatal(err)
	}
	h.Unsubscribe(old, []byte("y"), nil)
	h.Remove(old)
	h.check(t)
	st := h.Stats()
	if st.Conns != 1 || st.Subscriptions != 1 || st.Channels != 1 || old.Subs() != 0 {
		t.Fatalf("stale requests touched the live entry: %+v, old link subs %d", st, old.Subs())
	}
	if conns := h.Conns(); len(conns) != 1 || conns[0] != c2 {
		t.Fatalf("Conns = %v, want [c2]", conns)
	}
}

func TestEachAndStats(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	want := map[*poller.Conn]*Link{}
	for range 100 {
		c := nullConn()
		want[c] = add(h, c, 0)
	}
	got := map[*poller.Conn]int{}
	for _, c := range h.Conns() {
		got[c]++
	}
	if len(got) != len(want) {
		t.Fatalf("Conns saw %d conns, want %d", len(got), len(want))
	}
	for c, n := range got {
		if want[c] == nil || n != 1 {
			t.Fatalf("Conns: conn seen %d times (known %v)", n, want[c] != nil)
		}
	}
	for _, c := range h.Conns() {
		h.Remove(want[c])
	}
	h.Flush()
	st := h.Stats()
	if st.Conns != 0 || len(st.PerShardConns) != 4 {
		t.Fatalf("stats after removing all: %+v", st)
	}
	for range 8 {
		add(h, nullConn(), 0)
	}
	h.Flush()
	st = h.Stats()
	for i, n := range st.PerShardConns {
		if n != 2 {
			t.Fatalf("shard %d holds %d conns, want 2 (round robin): %v", i, n, st.PerShardConns)
		}
	}
}

// TestMembershipModel drives random Add/Remove/Subscribe/Unsubscribe/Publish
// against a plain model and checks the hub's tables and counts after each
// step (swap-remove fix-ups are where such tables break). Some connections
// hold more than heavyAt subscriptions, so the indexed lookup is exercised.
func TestMembershipModel(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	rng := rand.New(rand.NewPCG(1, 2))
	type conn struct {
		l    *Link
		subs map[string]Class
	}
	var live []*conn
	chans := make([]string, 3*heavyAt)
	for i := range chans {
		chans[i] = fmt.Sprintf("ch-%d", i)
	}
	b := both([]byte("b"), []byte("t"))
	for step := range 6000 {
		switch op := rng.IntN(10); {
		case op < 2 || len(live) == 0:
			live = append(live, &conn{l: add(h, nullConn(), 0), subs: map[string]Class{}})
		case op < 3 && len(live) > 4:
			k := rng.IntN(len(live))
			h.Remove(live[k].l)
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		case op < 7:
			c, ch, cls := live[rng.IntN(len(live))], chans[rng.IntN(len(chans))], Class(rng.IntN(NClass))
			subT(t, h, c.l, ch, cls)
			if _, had := c.subs[ch]; !had {
				c.subs[ch] = cls
			}
		case op < 9:
			c, ch := live[rng.IntN(len(live))], chans[rng.IntN(len(chans))]
			_, had := c.subs[ch]
			if queued := h.Unsubscribe(c.l, []byte(ch), nil); had && !queued {
				t.Fatalf("step %d: Unsubscribe of a subscribed channel not queued", step)
			}
			delete(c.subs, ch)
		default:
			ch := chans[rng.IntN(len(chans))]
			if _, err := h.Publish([]byte(ch), b); err != nil {
				t.Fatalf("step %d: publish: %v", step, err)
			}
		}
		if step%100 == 0 {
			h.check(t)
			want := int64(0)
			for _, c := range live {
				want += int64(len(c.subs))
				if c.l.Subs() != len(c.subs) {
					t.Fatalf("step %d: link counts %d subscriptions, model %d", step, c.l.Subs(), len(c.subs))
				}
			}
			if st := h.Stats(); st.Subscriptions != want {
				t.Fatalf("step %d: %d subscriptions, model %d", step, st.Subscriptions, want)
			}
		}
	}
	h.check(t)
	for _, c := range live {
		h.Remove(c.l)
	}
	h.check(t)
	if st := h.Stats(); st.Conns != 0 || st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after removing everything: %+v", st)
	}
	for _, s := range h.shards {
		for gid, g := range s.groups {
			if g != nil {
				t.Fatalf("shard %d: gid %d still held by %q", s.id, gid, g.channel().name())
			}
		}
	}
}

// TestChannelSize: the record must stay in the 80-byte size class, with a
// name of up to 16 bytes inside it (the budget behind a channel of one
// costing at most 128 bytes).
func TestChannelSize(t *testing.T) {
	if s := unsafe.Sizeof(channel{}); s > 80 {
		t.Fatalf("channel is %d bytes, want <= 80", s)
	}
	if s := unsafe.Sizeof(group{}); s > 40 {
		t.Fatalf("group is %d bytes, want <= 40", s)
	}
	if s := unsafe.Sizeof(sub{}); s != 8 {
		t.Fatalf("sub is %d bytes, want 8", s)
	}
	// Names of every length round-trip, and long ones live in the same
	// object as their record.
	for _, n := range []int{0, 1, 16, 17, 48, 49, 80, 81, 144, 145, maxName} {
		name := make([]byte, n)
		for i := range name {
			name[i] = byte('a' + i%26)
		}
		c := newChannel(name)
		if c.name() != string(name) {
			t.Fatalf("name of %d bytes came back as %q", n, c.name())
		}
	}
	h := newTestHub(t, Config{Shards: 1})
	long := make([]byte, maxName+1)
	if _, err := h.Publish(long, seqPayload{}); err != ErrName {
		t.Fatalf("publish with a %d-byte name: %v", len(long), err)
	}
	if err := h.Subscribe(add(h, nullConn(), 0), long, 0, nil, noAck{}); err != ErrName {
		t.Fatalf("subscribe with a %d-byte name: %v", len(long), err)
	}
}
