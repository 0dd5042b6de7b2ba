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

// staticBuilder hands out the same precomputed frames every time (what a
// broadcast of one payload looks like) and counts its calls.
type staticBuilder struct {
	f     Frames
	calls atomic.Int64
}

func (b *staticBuilder) Build(off uint64, need [2]bool) Frames {
	b.calls.Add(1)
	var out Frames
	for e := range 2 {
		if need[e] {
			out[e] = b.f[e]
		}
	}
	return out
}

// seqBuilder makes 16-byte frames naming class, channel and offset, so a
// reader can check what it got and in which order.
type seqBuilder struct{ ch byte }

const seqLen = 16

func (b seqBuilder) Build(off uint64, need [2]bool) Frames {
	var out Frames
	for e := range 2 {
		if need[e] {
			p := make([]byte, seqLen)
			p[0] = 'B' + byte(e)
			p[1] = b.ch
			binary.LittleEndian.PutUint64(p[8:], off)
			out[e] = p
		}
	}
	return out
}

// sockConn is a Conn over one end of a socketpair and a reader on the
// other. nonblock makes the writer's end non-blocking (to reach EAGAIN and
// overflow); otherwise writes block until the reader drains.
func sockConn(tb testing.TB, maxOutbound int, nonblock bool) (*poller.Conn, *os.File) {
	tb.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if nonblock {
		if err := syscall.SetNonblock(fds[0], true); err != nil {
			tb.Fatal(err)
		}
	}
	r := os.NewFile(uintptr(fds[1]), "peer")
	tb.Cleanup(func() {
		syscall.Close(fds[0])
		r.Close()
	})
	return poller.NewTestConn(fds[0], maxOutbound), r
}

// check verifies the hub's internal cross-references: every slot's
// subscription points at its own entry in a members list, every members
// entry is owned by a live slot, and the channel metadata counts match.
func (h *Hub) check(tb testing.TB) {
	tb.Helper()
	for _, s := range h.shards {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
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
			for _, sb := range sl.subs {
				subs++
				m := sb.m
				if int(sb.pos) >= len(m.conns[sb.enc]) || m.conns[sb.enc][sb.pos] != sl.conn || m.slots[sb.enc][sb.pos] != int32(i) {
					tb.Fatalf("shard %d slot %d: subscription to %q not at its recorded position", s.id, i, m.meta.name)
				}
				if m.meta.mem[s.id] != m {
					tb.Fatalf("shard %d slot %d: members of %q detached from its channel", s.id, i, m.meta.name)
				}
				if h.stripes[m.meta.stripe].m[m.meta.name] != m.meta {
					tb.Fatalf("channel %q: metadata not in its stripe", m.meta.name)
				}
			}
		}
		// every armed entry is linked exactly once, in a bucket
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
	var metaSubs, chans int64
	for i := range h.stripes {
		for name, meta := range h.stripes[i].m {
			chans++
			if meta.subs[0]+meta.subs[1] <= 0 {
				tb.Fatalf("channel %q kept with no subscribers", name)
			}
			var per [2]int64
			for sid, m := range meta.mem {
				if m == nil {
					continue
				}
				if len(m.conns[0])+len(m.conns[1]) == 0 {
					tb.Fatalf("channel %q: empty members kept on shard %d", name, sid)
				}
				for e := range 2 {
					per[e] += int64(len(m.conns[e]))
				}
			}
			if per != meta.subs {
				tb.Fatalf("channel %q: counts %v, members %v", name, meta.subs, per)
			}
			metaSubs += per[0] + per[1]
		}
		if h.stripes[i].nchan.Load() != int64(len(h.stripes[i].m)) {
			tb.Fatalf("stripe %d: channel counter %d, map %d", i, h.stripes[i].nchan.Load(), len(h.stripes[i].m))
		}
	}
	if metaSubs != subs {
		tb.Fatalf("subscriptions: slots say %d, channels say %d", subs, metaSubs)
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
