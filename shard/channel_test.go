package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"

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
	f(Config{Clock: clk, Shards: 4}, false, 4)
	f(Config{Clock: clk, Shards: 1, WheelSlots: 5}, false, 1)
	f(Config{Clock: clk}, false, 0)
}

func TestSubscribeUnsubscribe(t *testing.T) {
	h := newTestHub(t, Config{Shards: 2})
	r := h.Add(nullConn(), 0)
	ch := []byte("news")
	f := func(name string, got, want bool) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		h.check(t)
	}
	f("first subscribe", h.Subscribe(r, ch, 0), true)
	f("second subscribe", h.Subscribe(r, ch, 1), false)
	f("bad class", h.Subscribe(r, []byte("other"), 2), false)
	f("other channel", h.Subscribe(r, []byte("other"), 1), true)
	f("unsubscribe", h.Unsubscribe(r, ch), true)
	f("unsubscribe again", h.Unsubscribe(r, ch), false)
	f("unsubscribe unknown", h.Unsubscribe(r, []byte("nope")), false)
	f("resubscribe", h.Subscribe(r, ch, 1), true)
	if st := h.Stats(); st.Subscriptions != 2 || st.Channels != 2 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOffsetsAndChannelLifetime(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	b := &staticBuilder{f: Frames{[]byte("bin"), []byte("txt")}}
	a, c := []byte("a"), []byte("c")

	// No subscribers: no channel, no offset, no Build.
	if off, n := h.Publish(a, b); off != 0 || n != 0 || b.calls.Load() != 0 {
		t.Fatalf("publish without subscribers: off %d n %d builds %d", off, n, b.calls.Load())
	}
	r1, r2 := h.Add(nullConn(), 0), h.Add(nullConn(), 0)
	h.Subscribe(r1, a, 0)
	h.Subscribe(r2, a, 1)
	h.Subscribe(r2, c, 0)
	pub := func(ch []byte, wantOff uint64, wantN int) {
		t.Helper()
		off, n := h.Publish(ch, b)
		if off != wantOff || n != wantN {
			t.Fatalf("publish %s: off %d n %d, want %d %d", ch, off, n, wantOff, wantN)
		}
		if h.Offset(ch) != wantOff {
			t.Fatalf("Offset(%s) = %d, want %d", ch, h.Offset(ch), wantOff)
		}
	}
	pub(a, 1, 2)
	pub(a, 2, 2)
	pub(c, 1, 1) // offsets are per channel
	pub(a, 3, 2)
	h.Flush() // fan-outs still queued would miss a connection removed now
	h.Unsubscribe(r1, a)
	pub(a, 4, 1) // the channel lives on while anyone is subscribed
	h.Flush()
	h.Remove(r2) // last subscriber of a and c: both go
	h.check(t)
	if st := h.Stats(); st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after last subscriber left: %+v", st)
	}
	pub(a, 0, 0)
	h.Subscribe(r1, a, 0)
	pub(a, 1, 1) // a new channel starts again at 1
	h.Flush()
	if st := h.Stats(); st.Publishes != 6 || st.Deliveries != 2+2+1+2+1+1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStaleRef(t *testing.T) {
	h := newTestHub(t, Config{Shards: 1})
	c1 := nullConn()
	old := h.Add(c1, 5)
	h.Subscribe(old, []byte("x"), 0)
	h.Remove(old)
	c2 := nullConn()
	cur := h.Add(c2, 7) // reuses old's slot with a new generation
	if cur&^(1<<32-1) == old&^(1<<32-1) || uint32(cur) != uint32(old) {
		t.Fatalf("expected slot reuse with a new generation: old %#x new %#x", old, cur)
	}
	h.Subscribe(cur, []byte("y"), 0)
	for _, r := range []Ref{old, 0, Ref(1<<32 | 255), Ref(1<<32 | 1<<30)} {
		h.Arm(r, 1)
		if h.Subscribe(r, []byte("z"), 0) || h.Unsubscribe(r, []byte("y")) || h.Conn(r) != nil {
			t.Fatalf("ref %#x: not ignored", r)
		}
		h.Remove(r)
	}
	h.check(t)
	if h.Conn(cur) != c2 || h.Stats().Conns != 1 || h.Stats().Subscriptions != 1 {
		t.Fatalf("stale refs touched the live entry: %+v", h.Stats())
	}
	if h.Add(nil, 0) != 0 {
		t.Fatal("Add(nil) returned a ref")
	}
}

func TestEachAndStats(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	want := map[*poller.Conn]bool{}
	var refs []Ref
	for range 100 {
		c := nullConn()
		want[c] = true
		refs = append(refs, h.Add(c, 0))
	}
	got := map[*poller.Conn]int{}
	h.Each(func(c *poller.Conn) { got[c]++ })
	if len(got) != len(want) {
		t.Fatalf("Each saw %d conns, want %d", len(got), len(want))
	}
	for c, n := range got {
		if !want[c] || n != 1 {
			t.Fatalf("Each: conn seen %d times (known %v)", n, want[c])
		}
	}
	// Each may remove what it visits.
	h.Each(func(c *poller.Conn) {
		for _, r := range refs {
			if h.Conn(r) == c {
				h.Remove(r)
			}
		}
	})
	st := h.Stats()
	if st.Conns != 0 || len(st.PerShardConns) != 4 {
		t.Fatalf("stats after removing all: %+v", st)
	}
	for i := range 8 {
		h.Add(nullConn(), 0)
		_ = i
	}
	st = h.Stats()
	for i, n := range st.PerShardConns {
		if n != 2 {
			t.Fatalf("shard %d holds %d conns, want 2 (round robin): %v", i, n, st.PerShardConns)
		}
	}
}

// TestMembershipModel drives random Add/Remove/Subscribe/Unsubscribe/Publish
// against a plain model and checks the hub's tables and counts after each
// step (swap-remove fix-ups are where such tables break).
func TestMembershipModel(t *testing.T) {
	h := newTestHub(t, Config{Shards: 4})
	rng := rand.New(rand.NewPCG(1, 2))
	type conn struct {
		r    Ref
		subs map[string]uint8
	}
	var live []*conn
	chans := make([][]byte, 12)
	for i := range chans {
		chans[i] = fmt.Appendf(nil, "ch-%d", i)
	}
	b := &staticBuilder{f: Frames{[]byte("b"), []byte("t")}}
	for step := range 4000 {
		switch op := rng.IntN(10); {
		case op < 2 || len(live) == 0:
			live = append(live, &conn{r: h.Add(nullConn(), 0), subs: map[string]uint8{}})
		case op < 3:
			k := rng.IntN(len(live))
			h.Remove(live[k].r)
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		case op < 6:
			c, ch, enc := live[rng.IntN(len(live))], chans[rng.IntN(len(chans))], uint8(rng.IntN(2))
			_, had := c.subs[string(ch)]
			if got := h.Subscribe(c.r, ch, enc); got == had {
				t.Fatalf("step %d: Subscribe = %v with subscribed = %v", step, got, had)
			}
			if !had {
				c.subs[string(ch)] = enc
			}
		case op < 8:
			c, ch := live[rng.IntN(len(live))], chans[rng.IntN(len(chans))]
			_, had := c.subs[string(ch)]
			if got := h.Unsubscribe(c.r, ch); got != had {
				t.Fatalf("step %d: Unsubscribe = %v with subscribed = %v", step, got, had)
			}
			delete(c.subs, string(ch))
		default:
			ch := chans[rng.IntN(len(chans))]
			want := 0
			for _, c := range live {
				if _, ok := c.subs[string(ch)]; ok {
					want++
				}
			}
			if _, n := h.Publish(ch, b); n != want {
				t.Fatalf("step %d: publish to %s reached %d, model %d", step, ch, n, want)
			}
		}
		if step%50 == 0 {
			h.check(t)
		}
	}
	h.check(t)
	for _, c := range live {
		h.Remove(c.r)
	}
	h.check(t)
	if st := h.Stats(); st.Conns != 0 || st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("after removing everything: %+v", st)
	}
}
