package server

import (
	"os"
	"syscall"
	"testing"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/poller"
	"github.com/starling-ws/starling/shard"
)

// The per-publish side of compression, measured on the hub with the
// server's own payload: subscribers are engine-less connections on dups of
// /dev/null (a real write(2) each, no socket), so a benchmark holds 10,000
// of them in one process (a real-socket run at that size needs clients in
// other processes: `starling bench broadcast -compress`).

// payloadServer is the part of a Server a payload uses: its Config and
// counters.
func payloadServer() *Server { return &Server{cfg: Defaults()} }

// nullSubscribers subscribes n engine-less connections to ch in class cls.
func nullSubscribers(tb testing.TB, h *shard.Hub, ch []byte, n int, cls shard.Class) {
	tb.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { null.Close() })
	links := make([]shard.Link, n)
	for i := range links {
		fd, err := syscall.Dup(int(null.Fd()))
		if err != nil {
			tb.Fatalf("dup: %v", err)
		}
		tb.Cleanup(func() { syscall.Close(fd) })
		h.Add(&links[i], poller.NewTestConn(fd, 0), 0)
		links[i].Reserve(1)
		if err := h.Subscribe(&links[i], ch, cls, nil, noAck{}); err != nil {
			tb.Fatal(err)
		}
	}
	h.Flush()
}

type noAck struct{}

func (noAck) BuildAck(shard.Position, bool, bool) []byte { return nil }

func testHub(tb testing.TB, hist shard.HistoryConfig) *shard.Hub {
	tb.Helper()
	h, err := shard.New(shard.Config{Clock: shard.NewClock(), History: hist})
	if err != nil {
		tb.Fatal(err)
	}
	h.Start()
	tb.Cleanup(h.Stop)
	return h
}

// BenchmarkDeflateBroadcast10k: one ~1 KiB JSON chat publish to 10,000
// subscribers, all plain, all compressed, or all compressed with the
// publish under -compress-min (declined: they share the plain frame). Per
// op one publish, waited for with Flush. Reports CPU per delivery (ns/delivery), bytes written per
// delivery (the frame) and compressions per publish, which must be 1
// (it fails otherwise).
//
//	go test -run '^$' -bench DeflateBroadcast10k -count 5 ./server/
func BenchmarkDeflateBroadcast10k(b *testing.B) {
	const n = 10_000
	data := chatData(1<<10, 1)
	for _, c := range []struct {
		name     string
		cls      shard.Class
		declined bool // -compress-min above the data: compressed subscribers, plain frames
	}{
		{"plain", shard.Class(frame.JSON), false},
		{"compressed", shard.Class(frame.JSON) | shard.Compressed, false},
		{"declined", shard.Class(frame.JSON) | shard.Compressed, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := payloadServer()
			if c.declined {
				s.cfg.CompressMin = s.cfg.MaxMessage
			}
			h := testHub(b, shard.HistoryConfig{})
			ch := []byte("room")
			nullSubscribers(b, h, ch, n, c.cls)
			h.Publish(ch, s.newPayload(data, frame.JSON)) // warm the pools and the shards' scratch
			h.Flush()
			f := s.newPayload(data, frame.JSON).Frame(c.cls, "room", 2)
			if f == nil { // declined: the plain frame goes out
				f = s.newPayload(data, frame.JSON).Frame(c.cls&^shard.Compressed, "room", 2)
			}
			frameLen := len(f)
			c0, d0 := s.st.compressions.load(), h.Stats().Deliveries
			publishEach(b, h, s, ch, data)
			comp, del := s.st.compressions.load()-c0, h.Stats().Deliveries-d0
			want := uint64(0)
			if c.cls&shard.Compressed != 0 && !c.declined {
				want = uint64(b.N)
			}
			if comp != want || del != uint64(b.N*n) {
				b.Fatalf("%d publishes: %d compressions (want %d), %d deliveries", b.N, comp, want, del)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			b.ReportMetric(float64(frameLen), "wire-B/delivery")
			b.ReportMetric(float64(comp)/float64(b.N), "compressions/publish")
			b.ReportMetric(float64(len(data)), "data-B")
		})
	}
}

// publishEach is the measured loop: b.N publishes of data, each waited for.
func publishEach(b *testing.B, h *shard.Hub, s *Server, ch, data []byte) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.Publish(ch, s.newPayload(data, frame.JSON))
		h.Flush()
	}
	b.StopTimer()
}

// BenchmarkHistoryFrames: what a retained publication costs in history
// bytes (charged: the task, the payload's copy and each frame built) when
// its subscribers are plain only, compressed only, or both, and the time a
// publish takes with each (the difference is the compression, paid again
// on a replay if the compressed frame were dropped and rebuilt). The
// measurement behind keeping whatever frames were built (compress.go).
//
//	go test -run '^$' -bench HistoryFrames -count 5 ./server/
func BenchmarkHistoryFrames(b *testing.B) {
	data := chatData(1<<10, 2)
	for _, c := range []struct {
		name string
		cls  []shard.Class
	}{
		{"plain", []shard.Class{shard.Class(frame.JSON)}},
		{"compressed", []shard.Class{shard.Class(frame.JSON) | shard.Compressed}},
		{"both", []shard.Class{shard.Class(frame.JSON), shard.Class(frame.JSON) | shard.Compressed}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := payloadServer()
			h := testHub(b, shard.HistoryConfig{Size: 1 << 20, TTL: 3600, Memory: 1 << 40, MaxReplay: 1})
			ch := []byte("room")
			for _, cls := range c.cls {
				nullSubscribers(b, h, ch, 1, cls)
			}
			h0 := h.Stats().HistoryBytes
			publishEach(b, h, s, ch, data)
			b.ReportMetric(float64(h.Stats().HistoryBytes-h0)/float64(b.N), "history-B/pub")
			b.ReportMetric(float64(len(data)), "data-B")
		})
	}
}

// The compressed frame's build allocates the frame and nothing else (the
// compressor and its buffer are pooled); a declined one allocates nothing;
// so a publish to any number of compressed subscribers allocates one frame
// per encoding, nothing per recipient. Without -race (pools drop items
// under it; .ci/run runs Allocs tests again without it).
func TestDeflateFrameAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	s := payloadServer()
	for _, enc := range []frame.Enc{frame.JSON, frame.MsgPack} {
		cls := shard.Class(enc) | shard.Compressed
		big := s.newPayload(chatData(1<<10, 3), frame.JSON)
		small := s.newPayload([]byte(`"hi"`), frame.JSON)
		off := uint64(1)
		if big.Frame(cls, "room", off) == nil {
			t.Fatal("a 1 KiB chat publish was not compressed")
		}
		if a := testing.AllocsPerRun(200, func() { off++; Sink = len(big.Frame(cls, "room", off)) }); a != 1 {
			t.Errorf("enc %d: building a compressed frame: %v allocs, want 1 (the frame)", enc, a)
		}
		if small.Frame(cls, "room", off) != nil {
			t.Fatal("a 4-byte publish was compressed")
		}
		if a := testing.AllocsPerRun(200, func() { off++; Sink = len(small.Frame(cls, "room", off)) }); a != 0 {
			t.Errorf("enc %d: declining: %v allocs, want 0", enc, a)
		}
	}
}

// Sink keeps results alive.
var Sink int
