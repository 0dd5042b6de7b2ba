package server_test

import (
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkRoundTrip is the echo figure of the engines side by side: one
// client publishes 64 bytes to a channel it is subscribed to and reads the
// msg back, through the whole stack (engine, decoder, op, shard fan-out,
// write path) over loopback.
func BenchmarkRoundTrip(b *testing.B) {
	for _, engine := range engines {
		b.Run(engine, func(b *testing.B) {
			ts := startServerB(b, engine)
			r := dialRaw(b, ts.addr).upgrade()
			r.sendJSON(jsonOp("sub", "rt", 1, nil))
			r.nextJSON()
			pub := clientFrame(ws.OpText, true, []byte(`{"op":"pub","ch":"rt","data":"0123456789012345678901234567890123456789012345678901234567890123"}`))
			hdr := make([]byte, 2)
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.c.Write(pub); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r.br, hdr); err != nil {
					b.Fatal(err)
				}
				if _, err := r.br.Discard(int(hdr[1] & 0x7f)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
