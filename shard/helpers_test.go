package shard

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/starling-ws/starling/poller"
)

// devNull is shared by every socketless recipient: each Write is a real
// write(2) that always completes.
var devNull *os.File

func TestMain(m *testing.M) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		panic(err)
	}
	devNull = f
	code := m.Run()
	f.Close()
	os.Exit(code)
}

func nullConn() *poller.Conn { return poller.NewTestConn(int(devNull.Fd()), 0) }

func newTestHub(tb testing.TB, cfg Config) *Hub {
	tb.Helper()
	if cfg.Clock == nil {
		cfg.Clock = NewClock()
	}
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	h.Start()
	tb.Cleanup(h.Stop)
	return h
}

// add registers a fresh Link for c.
func add(h *Hub, c *poller.Conn, due uint32) *Link {
	l := new(Link)
	h.Add(l, c, due)
	return l
}

// noAck builds no reply: the worker writes nothing before the member joins.
type noAck struct{}

func (noAck) BuildAck(Position, bool, bool) []byte { return nil }

// subT reserves and subscribes l to ch with class cls (no ack, no since).
func subT(tb testing.TB, h *Hub, l *Link, ch string, cls Class) {
	tb.Helper()
	if !l.Reserve(MaxSubscriptions) {
		tb.Fatal("reserve refused")
	}
	if err := h.Subscribe(l, []byte(ch), cls, nil, noAck{}); err != nil {
		l.Unreserve()
		tb.Fatalf("subscribe %s: %v", ch, err)
	}
}

// staticPayload hands out the same precomputed frame per class (what a
// broadcast of one payload looks like) and counts its builds.
type staticPayload struct {
	f     [NClass][]byte
	calls atomic.Int64
}

func (p *staticPayload) Frame(cls Class, _ string, _ uint64) []byte {
	p.calls.Add(1)
	return p.f[cls]
}
func (p *staticPayload) Size() int { return len(p.f[0]) }

func both(b, t []byte) *staticPayload { return &staticPayload{f: [NClass][]byte{b, t, b, t}} }

// seqPayload makes 16-byte frames naming class, channel and offset, so a
// reader can check what it got and in which order.
type seqPayload struct{}

const seqLen = 16

func (seqPayload) Frame(cls Class, ch string, off uint64) []byte {
	p := make([]byte, seqLen)
	p[0] = 'B' + byte(cls)
	p[1] = ch[0]
	binary.LittleEndian.PutUint64(p[8:], off)
	return p
}
func (seqPayload) Size() int { return seqLen }

// seqAck is an ack in the same 16-byte shape: 'A', recovered, offset.
type seqAck struct{}

func (seqAck) BuildAck(pos Position, recovered, hasSince bool) []byte {
	p := make([]byte, seqLen)
	p[0] = 'A'
	if recovered {
		p[2] = 1
	}
	if hasSince {
		p[3] = 1
	}
	binary.LittleEndian.PutUint64(p[8:], pos.Off)
	return p
}

// sockConn is a Conn over one end of a socketpair and a reader on the
// other. nonblock makes the writer's end non-blocking (to reach EAGAIN and
// overflow); otherwise writes block until the reader drains.
func sockConn(tb testing.TB, maxOutbound int, nonblock bool) (*poller.Conn, *os.File) {
	tb.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // SOCK_CLOEXEC is Linux-only
	if err != nil {
		tb.Fatal(err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	if nonblock {
		if err := syscall.SetNonblock(fds[0], true); err != nil {
			tb.Fatal(err)
		}
	}
	// The reader's end is non-blocking so that os.File puts it in Go's
	// poller: reads then take deadlines.
	if err := syscall.SetNonblock(fds[1], true); err != nil {
		tb.Fatal(err)
	}
	r := os.NewFile(uintptr(fds[1]), "peer")
	tb.Cleanup(func() {
		syscall.Close(fds[0])
		r.Close()
	})
	return poller.NewTestConn(fds[0], maxOutbound), r
}

// check verifies the hub's internal cross-references once every worker is
// idle (Flush orders the workers' writes before these reads): every slot's
// subscription points at its own entry in a group, every entry is owned by
// a live slot, and channel counts match the groups.
func (h *Hub) check(tb testing.TB) {
	tb.Helper()
	h.Flush()
	for i := range h.stripes {
		h.stripes[i].mu.Lock()
		defer h.stripes[i].mu.Unlock()
	}
	var subs, conns int64
	for _, s := range h.shards {
		inWheel := 0
		for i := range s.slots {
			sl := &s.slots[i]
			if sl.conn == nil {
				if len(sl.subs) != 0 || sl.due != 0 {
					tb.Fatalf("shard %d slot %d: free but has subs %d due %d", s.id, i, len(sl.subs), sl.due)
				}
				continue
			}
			conns++
			if sl.due != 0 {
				inWheel++
			}
			for k, sb := range sl.subs {
				subs++
				g := s.groups[sb.gid]
				if g == nil || g.gid != sb.gid || int(sb.pos) >= g.size() {
					tb.Fatalf("shard %d slot %d: subscription %d has a bad gid/pos %+v", s.id, i, k, sb)
				}
				e := g.at(int(sb.pos))
				if entSlot(e) != int32(i) || entBack(e) != k || e&entDead != 0 {
					tb.Fatalf("shard %d slot %d: subscription to %q not at its recorded position", s.id, i, g.channel().name())
				}
				if g.shard != s.id {
					tb.Fatalf("group of %q on shard %d found in shard %d", g.channel().name(), g.shard, s.id)
				}
			}
			if len(sl.subs) > heavyAt {
				if len(s.heavy[int32(i)]) != len(sl.subs) {
					tb.Fatalf("shard %d slot %d: heavy index %d entries, %d subs", s.id, i, len(s.heavy[int32(i)]), len(sl.subs))
				}
			}
		}
		for gid, g := range s.groups {
			if g == nil {
				continue
			}
			if g.gid != uint32(gid) || g.size() == 0 {
				tb.Fatalf("shard %d gid %d: group has gid %d and %d entries", s.id, gid, g.gid, g.size())
			}
			if int(g.cnt) != g.size() {
				tb.Fatalf("group of %q on shard %d: count %d, %d entries", g.channel().name(), s.id, g.cnt, g.size())
			}
			if g.channel().groupOn(s.id) != g {
				tb.Fatalf("group of %q on shard %d is not the one its channel names", g.channel().name(), s.id)
			}
		}
		linked := 0
		for b, head := range s.wheel.heads {
			prev := -int32(b) - 2
			for i := head; i >= 0; i = s.slots[i].next {
				if s.slots[i].prev != prev || s.slots[i].due == 0 {
					tb.Fatalf("shard %d bucket %d: broken link at slot %d", s.id, b, i)
				}
				prev = i
				linked++
			}
		}
		if linked != inWheel {
			tb.Fatalf("shard %d: %d entries armed, %d linked", s.id, inWheel, linked)
		}
		if s.nconns.Load() != int64(countLive(s)) {
			tb.Fatalf("shard %d: conn counter %d, table %d", s.id, s.nconns.Load(), countLive(s))
		}
	}
	var chanSubs, chans int64
	for i := range h.stripes {
		st := &h.stripes[i]
		n := 0
		st.tab.each(func(c *channel) {
			n++
			if got := st.tab.get([]byte(c.name()), h.hash([]byte(c.name()))); got != c {
				tb.Fatalf("channel %q: not found by name in its stripe", c.name())
			}
			if int(c.stripe) != i {
				tb.Fatalf("channel %q: in stripe %d, says %d", c.name(), i, c.stripe)
			}
			if !c.subscribed() && !c.retained() {
				tb.Fatalf("channel %q kept with no subscribers and nothing retained", c.name())
			}
			for g := &c.home; g != nil; g = g.next {
				if g.ext && g.cnt == 0 {
					tb.Fatalf("channel %q: empty group kept on shard %d", c.name(), g.shard)
				}
				if g.channel() != c {
					tb.Fatalf("channel %q: a group names another channel", c.name())
				}
				chanSubs += int64(g.cnt)
			}
		})
		chans += int64(n)
		if st.nchan.Load() != int64(n) || st.tab.n != n {
			tb.Fatalf("stripe %d: channel counter %d, table count %d, table holds %d", i, st.nchan.Load(), st.tab.n, n)
		}
	}
	if chanSubs != subs {
		tb.Fatalf("subscriptions: slots say %d, channels say %d", subs, chanSubs)
	}
	st := h.Stats()
	if st.Subscriptions != subs || st.Conns != conns || st.Channels != chans {
		tb.Fatalf("stats %+v, tables: conns %d subs %d channels %d", st, conns, subs, chans)
	}
}

func countLive(s *shard) int {
	n := 0
	for i := range s.slots {
		if s.slots[i].conn != nil {
			n++
		}
	}
	return n
}
