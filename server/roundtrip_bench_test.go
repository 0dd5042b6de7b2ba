package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"io"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkRoundTrip is the echo figure of the engines side by side: one
// client publishes 64 bytes to a channel it is subscribed to and reads the
// msg back, through the whole stack (engine, decoder, op, shard fan-out,
// write path) over loopback.
func BenchmarkRoundTrip(b *testing.B) {
	for _, engine := range wstest.Engines {
		b.Run(engine, func(b *testing.B) {
			ts := startServerB(b, engine)
			r := wstest.Dial(b, ts.addr).Upgrade()
			r.SendJSON(jsonOp("sub", "rt", 1, nil))
			r.NextJSON()
			pub := wstest.Frame(ws.OpText, true, []byte(`{"op":"pub","ch":"rt","data":"0123456789012345678901234567890123456789012345678901234567890123"}`))
			hdr := make([]byte, 2)
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.C.Write(pub); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r.BR, hdr); err != nil {
					b.Fatal(err)
				}
				if _, err := r.BR.Discard(int(hdr[1] & 0x7f)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
