package frame

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// Sink keeps benchmark results alive.
var Sink int

var (
	benchJSONPub = []byte(`{"op":"pub","ch":"market.btc-usd","id":42,"data":{"px":101.25,"qty":3,"side":"buy"}}`)
	benchMPPub   = mpMap("op", "pub", "ch", "market.btc-usd", "id", 42, "data", map[string]any{"px": 101.25, "qty": 3, "side": "buy"})
)

func BenchmarkFeed64(b *testing.B) {
	in := frm(ws.OpBinary, true, bytes.Repeat([]byte{'x'}, 64))
	var d Decoder
	h := &nopHandler{}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		// Unmasking in place flips the payload each round; the header is
		// untouched, so the same bytes stay a valid binary frame.
		if f := d.Feed(in, 1<<20, h); f != nil {
			b.Fatal(f)
		}
	}
	Sink = h.n
}

func BenchmarkFeed64Split(b *testing.B) {
	in := frm(ws.OpBinary, true, bytes.Repeat([]byte{'x'}, 64))
	var d Decoder
	h := &nopHandler{}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		d.Feed(in[:20], 1<<20, h)
		if f := d.Feed(in[20:], 1<<20, h); f != nil {
			b.Fatal(f)
		}
	}
	Sink = h.n
}

func benchDecodeOp(b *testing.B, p []byte, enc Enc) {
	var op Op
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if e := DecodeOp(p, enc, &op); e != nil {
			b.Fatal(e)
		}
	}
	Sink = len(op.Data)
}

func BenchmarkDecodeOpJSON(b *testing.B)    { benchDecodeOp(b, benchJSONPub, JSON) }
func BenchmarkDecodeOpMsgPack(b *testing.B) { benchDecodeOp(b, benchMPPub, MsgPack) }

func benchAppendMsg(b *testing.B, enc, dataEnc Enc) {
	var op Op
	src := benchMPPub
	if dataEnc == JSON {
		src = benchJSONPub
	}
	if e := DecodeOp(src, dataEnc, &op); e != nil {
		b.Fatal(e)
	}
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(op.Data)))
	for b.Loop() {
		// The server's path: the part (converted if need be), then the head.
		part, err := AppendMsgPartFrom(dst[:MsgHeadMax], enc, op.Data, dataEnc, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		Sink = len(FinishMsg(part, MsgHeadMax, enc, op.Ch, 123456))
	}
}

// "Encode one publish": the frame every subscriber of one encoding gets.
func BenchmarkAppendMsgJSON(b *testing.B)          { benchAppendMsg(b, JSON, JSON) }
func BenchmarkAppendMsgMsgPack(b *testing.B)       { benchAppendMsg(b, MsgPack, MsgPack) }
func BenchmarkAppendMsgMsgPackToJSON(b *testing.B) { benchAppendMsg(b, JSON, MsgPack) }
func BenchmarkAppendMsgJSONToMsgPack(b *testing.B) { benchAppendMsg(b, MsgPack, JSON) }

func BenchmarkAppendAck(b *testing.B) {
	dst := make([]byte, 0, 64)
	id := []byte("42")
	b.ReportAllocs()
	for b.Loop() {
		out := AppendAck(dst[:0], JSON, id)
		Sink = len(out)
	}
	b.SetBytes(int64(Sink))
}

func BenchmarkParseUpgrade(b *testing.B) {
	req := goodRequest("Origin: http://example.com", "User-Agent: bench")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	var u Upgrade
	for b.Loop() {
		n, rej := ParseUpgrade(req, "/ws", &u)
		if rej != nil {
			b.Fatal(rej)
		}
		dst = AppendAccept(dst[:0], u.Key)
		Sink = n + len(dst)
	}
}
