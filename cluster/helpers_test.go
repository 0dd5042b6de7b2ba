package cluster

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/internal/natsrv"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/shard"
)

// natsSrv is an embedded nats-server with JetStream on a temp store
// (internal/natsrv); it can be shut down and started again on the same
// port and store.
type natsSrv struct {
	tb testing.TB
	*natsrv.Server
}

func startNATS(tb testing.TB) *natsSrv {
	tb.Helper()
	s, err := natsrv.Start(natsrv.Options{Dir: tb.TempDir(), Log: os.Getenv("NATS_LOG") != ""})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return &natsSrv{tb, s}
}

func (n *natsSrv) start() {
	n.tb.Helper()
	if err := n.Restart(); err != nil {
		n.tb.Fatal(err)
	}
}

func (n *natsSrv) stop() { n.Stop() }

func (n *natsSrv) url() string { return n.URL() }

// waitFor polls cond until it holds (internal/wstest's deadline).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	wstest.WaitFor(tb, what, cond)
}

// rec is one Deliver call.
type rec struct {
	off, prev uint64
	epoch     uint32
	data      string
	enc       frame.Enc
}

// node is one Starling node's cluster side: a real shard.Hub behind a Sink
// that records every Deliver (per channel, in call order) and hands it to
// the hub with PublishAt, as the server will.
type node struct {
	bus *Bus
	hub *shard.Hub
	mu  sync.Mutex
	got map[string][]rec
	n   int
	// block, if set, is waited on by every Deliver (a slow sink).
	block chan struct{}
}

func (n *node) Deliver(ch []byte, off, prev uint64, epoch uint32, data []byte, enc frame.Enc) {
	if n.block != nil {
		<-n.block
	}
	n.mu.Lock()
	n.got[string(ch)] = append(n.got[string(ch)], rec{off, prev, epoch, string(data), enc})
	n.n++
	n.mu.Unlock()
	if _, err := n.hub.PublishAt(ch, off, prev, epoch, &testPayload{data: data, enc: enc}); err != nil {
		panic(fmt.Sprintf("PublishAt %s %d: %v", ch, off, err))
	}
}

func (n *node) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.n
}

func (n *node) recs(ch string) []rec {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]rec(nil), n.got[ch]...)
}

func newHub(tb testing.TB) *shard.Hub {
	tb.Helper()
	clock := shard.NewClock()
	h, err := shard.New(shard.Config{Shards: 2, Clock: clock,
		History: shard.HistoryConfig{Size: 256, TTL: 600, Memory: 64 << 20, MaxReplay: 256}})
	if err != nil {
		tb.Fatal(err)
	}
	h.Start()
	tb.Cleanup(h.Stop)
	return h
}

// testCfg is a bus configuration for tests: quick reconnects and timeouts.
func testCfg(url string) Config {
	return Config{URL: url, ReconnectWait: 50 * time.Millisecond, PublishTimeout: 2 * time.Second,
		FetchTimeout: 5 * time.Second, HistorySize: 1000, Storage: File}
}

func newNode(tb testing.TB, cfg Config) *node { tb.Helper(); return newNodeBlocked(tb, cfg, nil) }

// newNodeBlocked makes a node whose Deliver waits until block is closed.
func newNodeBlocked(tb testing.TB, cfg Config, block chan struct{}) *node {
	tb.Helper()
	n := &node{hub: newHub(tb), got: make(map[string][]rec), block: block}
	var log *slog.Logger
	if os.Getenv("CLUSTER_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	b, err := Connect(cfg, n, log)
	if err != nil {
		tb.Fatal(err)
	}
	n.bus = b
	tb.Cleanup(b.Close)
	return n
}

func (n *node) waitReady(tb testing.TB) {
	tb.Helper()
	waitFor(tb, "bus ready", func() bool { ok, _ := n.bus.Ready(); return ok })
}

// testPayload's frame is [len u32][off u64][enc u8][data]: what a
// subscriber reads back names the offset and the data it carries.
type testPayload struct {
	data []byte
	enc  frame.Enc
}

func (p *testPayload) Size() int { return len(p.data) }
func (p *testPayload) Frame(_ shard.Class, _ string, off uint64) []byte {
	f := make([]byte, 13+len(p.data))
	binary.LittleEndian.PutUint32(f, uint32(9+len(p.data)))
	binary.LittleEndian.PutUint64(f[4:], off)
	f[12] = byte(p.enc)
	copy(f[13:], p.data)
	return f
}

type noAck struct{}

func (noAck) BuildAck(shard.Position, bool, bool) []byte { return nil }

// ackRec is an ack in the test frame shape carrying the position and
// recovered flag (data "ack:<recovered>").
type ackRec struct{}

func (ackRec) BuildAck(pos shard.Position, recovered, _ bool) []byte {
	return (&testPayload{data: fmt.Appendf(nil, "ack:%v", recovered)}).Frame(0, "", pos.Off)
}

// subscriber is a real connection (one end of a socketpair) subscribed on
// a hub; frames holds what the hub wrote to it, parsed.
type subscriber struct {
	mu     sync.Mutex
	frames []rec
	notify chan struct{} // one token per frame (dropped when full), for benchmarks
}

func subscribe(tb testing.TB, h *shard.Hub, ch string, since *shard.Position, ab shard.AckBuilder) *subscriber {
	tb.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	r := os.NewFile(uintptr(fds[1]), "peer")
	c := poller.NewTestConn(fds[0], 0)
	l := new(shard.Link)
	h.Add(l, c, 0)
	if !l.Reserve(shard.MaxSubscriptions) {
		tb.Fatal("reserve")
	}
	if ab == nil {
		ab = noAck{}
	}
	if err := h.Subscribe(l, []byte(ch), 0, since, ab); err != nil {
		tb.Fatal(err)
	}
	s := &subscriber{notify: make(chan struct{}, 1<<16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var hdr [13]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			n := binary.LittleEndian.Uint32(hdr[:]) - 9
			data := make([]byte, n)
			if _, err := io.ReadFull(r, data); err != nil {
				return
			}
			s.mu.Lock()
			s.frames = append(s.frames, rec{off: binary.LittleEndian.Uint64(hdr[4:]), enc: frame.Enc(hdr[12]), data: string(data)})
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	tb.Cleanup(func() {
		h.Remove(l)
		h.Flush()
		syscall.Close(fds[0])
		r.Close()
		<-done
	})
	return s
}

func (s *subscriber) got() []rec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rec(nil), s.frames...)
}

// delivered is the highest stream sequence b has delivered or skipped.
func (b *Bus) delivered() uint64 {
	b.dmu.Lock()
	defer b.dmu.Unlock()
	return b.hw
}

// streamLast is the stream's last sequence now.
func streamLast(tb testing.TB, b *Bus) uint64 {
	tb.Helper()
	s, err := b.js.Stream(tb.Context(), b.cfg.Stream)
	if err != nil {
		tb.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}
