package frame

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gobwas/ws"
)

// The recorder takes compressed messages too (zmsg events).
func (r *recorder) CompressedMessage(text bool, p []byte) {
	r.ev = append(r.ev, fmt.Sprintf("zmsg text=%v %q", text, p))
}

func zmsgEv(text bool, p string) string { return ev("zmsg text=%v %q", text, p) }

func withDeflate(d *Decoder) { d.EnableDeflate() }

// Raw frames for permessage-deflate framing (RFC 7692 6.1): RSV1 only on
// the first frame of a data message; the decoder passes compressed
// payloads on without looking inside (AppendInflate's tests cover that).
func TestDecoderDeflate(t *testing.T) {
	const max = 1 << 10
	z := []byte("\xf2\x48\xcd\xc9\xc9\x07\x00") // "Hello", compressed: not UTF-8
	rsv1 := rsv(4)
	cases := []struct {
		name string
		in   []byte
		want []string
		code ws.StatusCode
	}{
		{"compressed text", frm(ws.OpText, true, z, rsv1), []string{zmsgEv(true, string(z))}, 0},
		{"compressed binary", frm(ws.OpBinary, true, z, rsv1), []string{zmsgEv(false, string(z))}, 0},
		{"compressed fragmented with ping", cat(
			frm(ws.OpText, false, z[:3], rsv1),
			frm(ws.OpPing, true, []byte("p")),
			frm(ws.OpContinuation, false, z[3:5]),
			frm(ws.OpContinuation, true, z[5:])), []string{ev("ping %q", "p"), zmsgEv(true, string(z))}, 0},
		{"plain after compressed", cat(frm(ws.OpText, true, z, rsv1), frm(ws.OpText, true, []byte("hi"))),
			[]string{zmsgEv(true, string(z)), msgEv(true, "hi")}, 0},
		{"plain fragmented after compressed", cat(frm(ws.OpBinary, true, z, rsv1), frm(ws.OpText, false, []byte("a")), frm(ws.OpContinuation, true, []byte("b"))),
			[]string{zmsgEv(false, string(z)), msgEv(true, "ab")}, 0},
		{"plain text still checked", frm(ws.OpText, true, []byte("\xff")), nil, 1007},
		{"plain fragmented text still checked", cat(frm(ws.OpText, false, []byte("a")), frm(ws.OpContinuation, true, []byte("\xff"))), nil, 1007},
		{"compressed size bound", frm(ws.OpBinary, true, make([]byte, max+1), rsv1), nil, 1009},

		{"rsv1 on continuation", cat(frm(ws.OpText, false, z[:3], rsv1), frm(ws.OpContinuation, true, z[3:], rsv1)), nil, 1002},
		{"rsv1 on continuation of a plain message", cat(frm(ws.OpText, false, []byte("a")), frm(ws.OpContinuation, true, []byte("b"), rsv1)), nil, 1002},
		{"rsv1 on ping", frm(ws.OpPing, true, []byte("p"), rsv1), nil, 1002},
		{"rsv1 on pong", frm(ws.OpPong, true, nil, rsv1), nil, 1002},
		{"rsv1 on close", frm(ws.OpClose, true, closeBody(1000, ""), rsv1), nil, 1002},
		{"rsv1 on ping inside a message", cat(frm(ws.OpText, false, z[:3], rsv1), frm(ws.OpPing, true, nil, rsv1)), nil, 1002},
		{"rsv2", frm(ws.OpText, true, z, rsv(2)), nil, 1002},
		{"rsv3", frm(ws.OpText, true, z, rsv(1)), nil, 1002},
		{"rsv1+rsv2", frm(ws.OpText, true, z, rsv(6)), nil, 1002},
		{"events before failure", cat(frm(ws.OpText, true, z, rsv1), frm(ws.OpPing, true, nil, rsv1)), []string{zmsgEv(true, string(z))}, 1002},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := outcome{ev: c.want, code: c.code}
			whole := feedCuts(c.in, max, nil, withDeflate)
			if c.code != 0 && whole.code == c.code {
				want.reason = whole.reason
			}
			if !whole.equal(want) {
				t.Fatalf("got %v\nwant %v", whole, want)
			}
			if got := feedCuts(c.in, max, byteCuts(len(c.in)), withDeflate); !got.equal(whole) {
				t.Fatalf("byte by byte: %v", got)
			}
			for range 20 {
				cuts := randomCuts(rng, len(c.in), 1+rng.IntN(5))
				if got := feedCuts(c.in, max, cuts, withDeflate); !got.equal(whole) {
					t.Fatalf("cuts %v: %v", cuts, got)
				}
			}
		})
	}
	// Without negotiation RSV1 is a protocol error as before.
	if got := feedCuts(frm(ws.OpText, true, z, rsv1), max, nil); got.code != 1002 {
		t.Fatalf("rsv1 without deflate: %v", got)
	}
}

func TestDecoderDeflateFlag(t *testing.T) {
	var d Decoder
	if d.Deflate() {
		t.Fatal("zero decoder has deflate")
	}
	d.EnableDeflate()
	if !d.Deflate() {
		t.Fatal("EnableDeflate did not stick")
	}
	// A handler that cannot inflate gets no compressed bytes as a message.
	var got []byte
	f := d.Feed(frm(ws.OpBinary, true, []byte("zz"), rsv(4)), 100, &funcHandler{msg: func(_ bool, p []byte) { got = p }})
	if f == nil || f.Code != ws.StatusInternalServerError || got != nil {
		t.Fatalf("non-deflate handler: %v, delivered %q", f, got)
	}
	d.Release()
	if d.Deflate() {
		t.Fatal("Release kept deflate")
	}
}

// FuzzDecoderDeflate: with deflate negotiated the decoder behaves exactly
// as without it on every stream the plain decoder accepts, differs only
// where RSV1 appears, and is independent of how the bytes are cut.
func FuzzDecoderDeflate(f *testing.F) {
	z := []byte("\xf2\x48\xcd\xc9\xc9\x07\x00")
	for _, s := range [][]byte{
		frm(ws.OpText, true, z, rsv(4)),
		cat(frm(ws.OpText, false, z[:3], rsv(4)), frm(ws.OpPing, true, nil), frm(ws.OpContinuation, true, z[3:])),
		cat(frm(ws.OpBinary, false, z[:3], rsv(4)), frm(ws.OpContinuation, true, z[3:], rsv(4))),
		frm(ws.OpPing, true, nil, rsv(4)),
		cat(frm(ws.OpText, true, []byte("plain")), frm(ws.OpClose, true, closeBody(1000, ""))),
	} {
		f.Add(s, uint16(100))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxSel uint16) {
		max := int(maxSel) + 1
		plain := feedCuts(data, max, nil)
		deflate := feedCuts(data, max, nil, withDeflate)
		if plain.code != ws.StatusProtocolError && !deflate.equal(plain) {
			t.Fatalf("plain decoder %v, with deflate %v", plain, deflate)
		}
		for _, e := range deflate.ev {
			if len(e) > 4 && e[:4] == "zmsg" && plain.code != ws.StatusProtocolError {
				t.Fatalf("compressed message %q where the plain decoder saw no RSV1", e)
			}
		}
		rng := rngFor(data)
		for range 4 {
			cuts := randomCuts(rng, len(data), 1+rng.IntN(8))
			if got := feedCuts(data, max, cuts, withDeflate); !got.equal(deflate) || got.buffered != 0 {
				t.Fatalf("cuts %v:\n got %v\nwhole %v", cuts, got, deflate)
			}
		}
	})
}

func TestDecoderDeflateZeroAllocs(t *testing.T) {
	in := cat(frm(ws.OpText, true, bytes.Repeat([]byte{0xf2}, 200), rsv(4)), frm(ws.OpText, true, []byte("plain")))
	var d Decoder
	d.EnableDeflate()
	h := &deflateNop{}
	zeroAllocs(t, "Feed of compressed whole frames", "DeflateHandler is a type assertion", func() {
		buf := append(bytesBuf[:0], in...)
		if f := d.Feed(buf, 1<<20, h); f != nil {
			t.Fatal(f)
		}
	})
	if h.z == 0 || h.n == 0 {
		t.Fatalf("compressed %d, plain %d bytes delivered", h.z, h.n)
	}
}

type deflateNop struct {
	nopHandler
	z int
}

func (h *deflateNop) CompressedMessage(_ bool, p []byte) { h.z += len(p) }

func BenchmarkFeedCompressed1K(b *testing.B) {
	in := frm(ws.OpBinary, true, bytes.Repeat([]byte{'x'}, 1<<10), rsv(4))
	var d Decoder
	d.EnableDeflate()
	h := &deflateNop{}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if f := d.Feed(in, 1<<20, h); f != nil {
			b.Fatal(f)
		}
	}
	Sink = h.z
}
