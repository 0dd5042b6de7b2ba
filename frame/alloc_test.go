package frame

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// zeroAllocs runs fn once to warm up (pools, lazily built state) and then
// requires it not to allocate.
func zeroAllocs(t *testing.T, what, hint string, fn func()) {
	t.Helper()
	fn()
	if a := testing.AllocsPerRun(200, fn); a != 0 {
		t.Errorf("%s: %v allocs per run, want 0 (%s)", what, a, hint)
	}
}

func TestZeroAllocs(t *testing.T) {
	in := cat(
		frm(ws.OpBinary, true, bytes.Repeat([]byte{1}, 64)),
		frm(ws.OpText, true, []byte("hello, world")),
		frm(ws.OpPing, true, []byte("p")),
		frm(ws.OpBinary, true, bytes.Repeat([]byte{2}, 1000)),
	)
	var d Decoder
	h := &nopHandler{}
	zeroAllocs(t, "Feed of whole frames", "whole frames must be used in place", func() {
		// Each round unmasks in place; alternate rounds restore the text
		// frame's payload, so feed a fresh copy from a reused buffer.
		buf := bytesBuf[:0]
		buf = append(buf, in...)
		if f := d.Feed(buf, 1<<20, h); f != nil {
			t.Fatal(f)
		}
	})
	var op Op
	// json.Valid takes its scanner from a sync.Pool, which race builds
	// drain at random: this one is checked without -race (.ci/run does).
	if !raceEnabled {
		zeroAllocs(t, "DecodeOp JSON", "ASCII channel names must not be copied", func() {
			if e := DecodeOp(benchJSONPub, JSON, &op); e != nil {
				t.Fatal(e)
			}
		})
	}
	zeroAllocs(t, "DecodeOp MsgPack", "ASCII channel names must not be copied", func() {
		if e := DecodeOp(benchMPPub, MsgPack, &op); e != nil {
			t.Fatal(e)
		}
	})
	for _, enc := range []Enc{JSON, MsgPack} {
		src := benchMPPub
		if enc == JSON {
			src = benchJSONPub
		}
		if e := DecodeOp(src, enc, &op); e != nil {
			t.Fatal(e)
		}
		dst := make([]byte, 0, len(op.Ch)+len(op.Data)+MaxMsgOverhead)
		zeroAllocs(t, "AppendMsg same encoding", "pre-sized dst must not grow", func() {
			out, err := AppendMsg(dst[:0], enc, op.Ch, 1<<62, op.Data)
			if err != nil || cap(out) != cap(dst) {
				t.Fatalf("err %v, cap %d -> %d", err, cap(dst), cap(out))
			}
		})
		buf := make([]byte, 0, MsgHeadMax+len(op.Data)+1)
		zeroAllocs(t, "AppendMsgPart+FinishMsg", "the head is written in place", func() {
			part := AppendMsgPart(buf[:MsgHeadMax], enc, op.Data)
			if fr := FinishMsg(part, MsgHeadMax, enc, op.Ch, 1<<62); cap(part) != cap(buf) || len(fr) > len(part) {
				t.Fatalf("cap %d -> %d", cap(buf), cap(part))
			}
		})
		zeroAllocs(t, "AppendAck", "", func() { dst = AppendAck(dst[:0], enc, op.ID) })
	}
}

var bytesBuf = make([]byte, 0, 4096)
