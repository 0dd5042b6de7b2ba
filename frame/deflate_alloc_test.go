package frame

import "testing"

// Compression, the finisher and inflation borrow their state from pools;
// with warm pools and caller buffers of the right size they allocate
// nothing. Race builds drop pooled items at random, so these run without
// -race (.ci/run does).
func TestDeflateZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	for _, enc := range []Enc{JSON, MsgPack} {
		data := deflatePayload("odds", 4<<10, enc)
		dst := make([]byte, 0, DeflateRoom+len(data)+1)
		var part []byte
		zeroAllocs(t, "AppendDeflatedPart", "pooled compressor, dst with room", func() {
			var ok bool
			if part, ok = AppendDeflatedPart(dst, enc, data, 0); !ok {
				t.Fatal("not kept")
			}
		})
		ch := []byte("market.btc-usd")
		off := uint64(1)
		zeroAllocs(t, "FinishDeflatedMsg", "writes into the room", func() {
			off++
			Sink = len(FinishDeflatedMsg(part, DeflateRoom, enc, ch, off))
		})
		fr := readServerFrame(t, FinishDeflatedMsg(part, DeflateRoom, enc, ch, 7))
		out := make([]byte, 0, 8<<10)
		zeroAllocs(t, "AppendInflate", "pooled inflater, dst with room", func() {
			if _, f := AppendInflate(out, fr.Payload, enc == JSON, 1<<20); f != nil {
				t.Fatal(f)
			}
		})
	}
}
