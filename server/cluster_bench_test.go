package server_test

import (
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/cluster"
	"github.com/starling-ws/starling/internal/wstest"
	"github.com/starling-ws/starling/server"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClusterPubToSub is one publish at a time from a WebSocket
// publisher until a WebSocket subscriber has read its msg, through the
// whole stack (engine, decoder, op, hub or bus, fan-out, write path),
// with the bus off and on: alone (one server), bus-local (publisher and
// subscriber on the same cluster node: the publish still goes through
// NATS and back) and bus-remote (publisher on node A, subscriber on node
// B). ns/op is the publish-to-delivery latency; cpu-ns/op the whole test
// process's CPU per publish (servers, clients and, with the bus, the
// embedded NATS server).
func BenchmarkClusterPubToSub(b *testing.B) {
	pub := wstest.Frame(ws.OpText, true, []byte(`{"op":"pub","ch":"pb","data":"0123456789012345678901234567890123456789012345678901234567890123"}`))
	run := func(b *testing.B, pubAddr, subAddr string) {
		s := wstest.Dial(b, subAddr).Upgrade()
		s.SendJSON(jsonOp("sub", "pb", 1, nil))
		s.NextJSON()
		p := wstest.Dial(b, pubAddr).Upgrade()
		s.C.SetReadDeadline(time.Time{}) // wstest's 5 s is for one read, not a benchmark
		p.C.SetWriteDeadline(time.Time{})
		hdr := make([]byte, 2)
		b.SetBytes(64)
		b.ReportAllocs()
		cpu0 := cpuNow()
		b.ResetTimer()
		for range b.N {
			if _, err := p.C.Write(pub); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(s.BR, hdr); err != nil {
				b.Fatal(err)
			}
			if _, err := s.BR.Discard(int(hdr[1] & 0x7f)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	// No -max-publish-rate: one publisher goes as fast as the path allows.
	unlimited := func(c *server.Config) { c.PublishRate, c.Logger = 0, logger() }
	b.Run("alone", func(b *testing.B) {
		ts := startServer(b, "epoll", opts{srv: unlimited})
		run(b, ts.addr, ts.addr)
	})
	memory := nodeOpts{srv: unlimited, bus: func(c *cluster.Config) { c.Storage = cluster.Memory }}
	b.Run("bus-local", func(b *testing.B) {
		n := startNodes(b, startNATS(b).URL(), 1, memory)[0]
		run(b, n.addr, n.addr)
	})
	b.Run("bus-remote", func(b *testing.B) {
		ns := startNodes(b, startNATS(b).URL(), 2, memory)
		run(b, ns[0].addr, ns[1].addr)
	})
}
