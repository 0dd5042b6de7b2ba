package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
)

func TestDecoderSize(t *testing.T) {
	size := unsafe.Sizeof(Decoder{})
	t.Logf("Decoder is %d bytes", size)
	if size > 64 {
		t.Fatalf("Decoder is %d bytes, want <= 64: it lives in every connection record", size)
	}
}

func ev(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func msgEv(text bool, p string) string  { return ev("msg text=%v %q", text, p) }
func closeEv(code int, r string) string { return ev("close %d %q", code, r) }

func TestDecoder(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10)
	const max = 200 << 10
	hdr127 := func(b0 byte, n uint64) []byte { // masked header with 64-bit length
		h := []byte{b0, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		binary.BigEndian.PutUint64(h[2:], n)
		return h
	}
	type tc struct {
		name string
		in   []byte
		max  int
		want []string
		code ws.StatusCode
	}
	cases := []tc{
		{"text", frm(ws.OpText, true, []byte("hello")), max, []string{msgEv(true, "hello")}, 0},
		{"binary", frm(ws.OpBinary, true, []byte{0, 1, 2}), max, []string{msgEv(false, "\x00\x01\x02")}, 0},
		{"empty text", frm(ws.OpText, true, nil), max, []string{msgEv(true, "")}, 0},
		{"big single frame", frm(ws.OpBinary, true, big), max, []string{msgEv(false, string(big))}, 0},
		{"16-bit length", frm(ws.OpText, true, big[:300]), max, []string{msgEv(true, string(big[:300]))}, 0},
		{"several", cat(frm(ws.OpText, true, []byte("a")), frm(ws.OpPing, true, []byte("p")), frm(ws.OpPong, true, []byte("q")), frm(ws.OpBinary, true, []byte("b"))), max,
			[]string{msgEv(true, "a"), ev("ping %q", "p"), ev("pong %q", "q"), msgEv(false, "b")}, 0},
		{"fragmented with control interleaved", cat(
			frm(ws.OpText, false, []byte("hel")),
			frm(ws.OpPing, true, []byte("1")),
			frm(ws.OpContinuation, false, []byte("")),
			frm(ws.OpPong, true, nil),
			frm(ws.OpContinuation, true, []byte("lo"))), max,
			[]string{ev("ping %q", "1"), ev("pong %q", ""), msgEv(true, "hello")}, 0},
		{"fragmented empty", cat(frm(ws.OpBinary, false, nil), frm(ws.OpContinuation, true, nil)), max, []string{msgEv(false, "")}, 0},
		{"code point split across fragments", cat(frm(ws.OpText, false, []byte("a\xe2\x82")), frm(ws.OpContinuation, true, []byte("\xacb"))), max,
			[]string{msgEv(true, "a€b")}, 0},
		{"ping 125", frm(ws.OpPing, true, big[:125]), max, []string{ev("ping %q", big[:125])}, 0},

		{"unmasked", frm(ws.OpText, true, []byte("hi"), unmasked), max, nil, 1002},
		{"events before failure", cat(frm(ws.OpText, true, []byte("ok")), frm(ws.OpText, true, []byte("hi"), unmasked)), max, []string{msgEv(true, "ok")}, 1002},
		{"rsv1", frm(ws.OpText, true, []byte("hi"), rsv(4)), max, nil, 1002},
		{"rsv2", frm(ws.OpBinary, true, []byte("hi"), rsv(2)), max, nil, 1002},
		{"rsv3", frm(ws.OpPing, true, nil, rsv(1)), max, nil, 1002},
		{"ping 126", frm(ws.OpPing, true, big[:126]), max, nil, 1002},
		{"close 126", frm(ws.OpClose, true, big[:126]), max, nil, 1002},
		{"fragmented ping", frm(ws.OpPing, false, []byte("x")), max, nil, 1002},
		{"continuation without start", frm(ws.OpContinuation, true, []byte("x")), max, nil, 1002},
		{"new message inside fragmented", cat(frm(ws.OpText, false, []byte("a")), frm(ws.OpText, true, []byte("b"))), max, nil, 1002},
		{"binary inside fragmented", cat(frm(ws.OpText, false, []byte("a")), frm(ws.OpBinary, false, []byte("b"))), max, nil, 1002},
		{"64-bit length msb", cat(hdr127(0x82, 1<<63|5), []byte("abcde")), max, nil, 1002},
		{"too big single frame, header only", hdr127(0x82, max+1), max, nil, 1009},
		{"too big 16-bit", frm(ws.OpBinary, true, big[:1000]), 999, nil, 1009},
		{"exactly max", frm(ws.OpBinary, true, big[:1000]), 1000, []string{msgEv(false, string(big[:1000]))}, 0},
		{"too big reassembled", cat(frm(ws.OpText, false, big[:600]), frm(ws.OpPing, true, nil), frm(ws.OpContinuation, false, big[:500])), 1000,
			[]string{ev("ping %q", "")}, 1009},
		{"bad utf-8 single", frm(ws.OpText, true, []byte("a\xffb")), max, nil, 1007},
		{"bad utf-8 fail fast in first fragment", frm(ws.OpText, false, []byte("a\xc0\xafb")), max, nil, 1007},
		{"bad utf-8 surrogate", frm(ws.OpText, true, []byte("\xed\xa0\x80")), max, nil, 1007},
		{"truncated code point at FIN", cat(frm(ws.OpText, false, []byte("a")), frm(ws.OpContinuation, true, []byte("\xe2\x82"))), max, nil, 1007},
		{"bad utf-8 in binary is fine", frm(ws.OpBinary, true, []byte("\xff")), max, []string{msgEv(false, "\xff")}, 0},
		{"close empty stops", cat(frm(ws.OpClose, true, nil), frm(ws.OpPing, true, nil)), max, []string{closeEv(1005, "")}, 0},
		{"close with reason", cat(frm(ws.OpClose, true, closeBody(1000, "bye")), frm(ws.OpText, true, []byte("x"))), max, []string{closeEv(1000, "bye")}, 0},
		{"close inside fragmented", cat(frm(ws.OpText, false, []byte("ab")), frm(ws.OpClose, true, closeBody(1001, ""))), max, []string{closeEv(1001, "")}, 0},
		{"close 1 byte", frm(ws.OpClose, true, []byte{3}), max, nil, 1002},
		{"close reason bad utf-8", frm(ws.OpClose, true, closeBody(1000, "\xff")), max, nil, 1007},
		{"fragmented close", frm(ws.OpClose, false, closeBody(1000, "")), max, nil, 1002},
	}
	for op := 3; op <= 15; op++ {
		if op >= 8 && op <= 10 {
			continue
		}
		cases = append(cases, tc{fmt.Sprintf("reserved opcode %#x", op), frm(ws.OpCode(op), true, []byte("x")), max, nil, 1002})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		cases = append(cases, tc{fmt.Sprintf("close code %d", code), frm(ws.OpClose, true, closeBody(code, "")), max, nil, 1002})
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, tc{fmt.Sprintf("close code %d", code), frm(ws.OpClose, true, closeBody(code, "r")), max, []string{closeEv(int(code), "r")}, 0})
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := outcome{ev: c.want, code: c.code}
			check := func(how string, got outcome) {
				t.Helper()
				if c.code != 0 && got.code == c.code {
					want.reason = got.reason // reasons are free text; the code is the contract
				}
				if !got.equal(want) {
					t.Fatalf("%s: got %v\nwant %v", how, got, want)
				}
				if got.buffered != 0 {
					t.Fatalf("%s: Buffered() = %d after Release", how, got.buffered)
				}
				if got.peak > c.max+bufSlack {
					t.Fatalf("%s: held %d bytes, over max %d + %d", how, got.peak, c.max, bufSlack)
				}
			}
			whole := feedCuts(c.in, c.max, nil)
			check("whole", whole)
			if len(c.in) <= 4096 {
				check("byte by byte", feedCuts(c.in, c.max, byteCuts(len(c.in))))
			}
			for range 30 {
				cuts := randomCuts(rng, len(c.in), 1+rng.IntN(6))
				if got := feedCuts(c.in, c.max, cuts); !got.equal(whole) {
					t.Fatalf("cuts %v: got %v\nwhole %v", cuts, got, whole)
				}
			}
		})
	}
}

// A whole frame is delivered in place: no copy, no buffer.
func TestDecoderInPlace(t *testing.T) {
	in := frm(ws.OpBinary, true, []byte("in place"))
	var d Decoder
	var got []byte
	h := &funcHandler{msg: func(_ bool, p []byte) { got = p }}
	if f := d.Feed(in, 1<<20, h); f != nil {
		t.Fatal(f)
	}
	if string(got) != "in place" || &got[0] != &in[len(in)-len(got)] {
		t.Fatalf("message %q not delivered in place", got)
	}
	if d.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after a whole frame", d.Buffered())
	}
}

// The buffer is held only while something is incomplete.
func TestDecoderBufferLifetime(t *testing.T) {
	var d Decoder
	h := &nopHandler{}
	in := cat(frm(ws.OpText, false, []byte("ab")), frm(ws.OpContinuation, true, []byte("cd")))
	first := len(frm(ws.OpText, false, []byte("ab")))
	if f := d.Feed(in[:3], 100, h); f != nil || d.Buffered() == 0 || d.Fragmented() {
		t.Fatalf("partial header: fail=%v buffered=%d fragmented=%v", f, d.Buffered(), d.Fragmented())
	}
	if f := d.Feed(in[3:first], 100, h); f != nil || d.Buffered() == 0 || !d.Fragmented() {
		t.Fatalf("first fragment: fail=%v buffered=%d fragmented=%v", f, d.Buffered(), d.Fragmented())
	}
	if f := d.Feed(in[first:], 100, h); f != nil || d.Buffered() != 0 || d.Fragmented() {
		t.Fatalf("complete: fail=%v buffered=%d fragmented=%v", f, d.Buffered(), d.Fragmented())
	}
	if h.n != 4 {
		t.Fatalf("delivered %d bytes, want 4", h.n)
	}
	// Release mid-message leaves a reusable zero decoder.
	d.Feed(frm(ws.OpText, false, []byte("zz")), 100, h)
	d.Release()
	if d.Buffered() != 0 || d.Fragmented() {
		t.Fatal("Release left state behind")
	}
	var r recorder
	if f := d.Feed(frm(ws.OpText, true, []byte("again")), 100, &r); f != nil || len(r.ev) != 1 {
		t.Fatalf("reuse after Release: %v %v", f, r.ev)
	}
}

// Growth follows the bytes that arrived, not the declared length.
func TestDecoderNoAllocFromDeclaredLength(t *testing.T) {
	var d Decoder
	h := &nopHandler{}
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4} // 1 GiB declared
	if f := d.Feed(cat(hdr, []byte("abc")), 2<<30, h); f != nil {
		t.Fatal(f)
	}
	if d.Buffered() > 4096 {
		t.Fatalf("holding %d bytes for 3 arrived", d.Buffered())
	}
	d.Release()
}

// After a failure or a close, nothing more is processed.
func TestDecoderDeadAfterFail(t *testing.T) {
	var d Decoder
	var r recorder
	if f := d.Feed(frm(ws.OpText, true, []byte("x"), unmasked), 100, &r); f == nil || f.Code != 1002 {
		t.Fatalf("want 1002, got %v", f)
	}
	if f := d.Feed(frm(ws.OpText, true, []byte("x")), 100, &r); f != nil || len(r.ev) != 0 {
		t.Fatalf("fed after failure: %v %v", f, r.ev)
	}
	d.Release()
}

func TestDecoderLongMessageManyFragments(t *testing.T) {
	var parts [][]byte
	var want strings.Builder
	for i := range 200 {
		s := strings.Repeat(string(rune('a'+i%26)), i*7%300) + "é"
		want.WriteString(s)
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		parts = append(parts, frm(op, i == 199, []byte(s)))
		if i%17 == 0 {
			parts = append(parts, frm(ws.OpPing, true, []byte("p")))
		}
	}
	in := cat(parts...)
	whole := feedCuts(in, 1<<20, nil)
	if whole.code != 0 || len(whole.ev) != 13 || whole.ev[12] != msgEv(true, want.String()) {
		t.Fatalf("got %d events, fail %d", len(whole.ev), whole.code)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		cuts := randomCuts(rng, len(in), 50)
		if got := feedCuts(in, 1<<20, cuts); !got.equal(whole) {
			t.Fatalf("cuts differ: %v", got.code)
		}
	}
}

type funcHandler struct {
	msg func(bool, []byte)
}

func (h *funcHandler) Message(t bool, p []byte)    { h.msg(t, p) }
func (h *funcHandler) Ping([]byte)                 {}
func (h *funcHandler) Pong([]byte)                 {}
func (h *funcHandler) Close(ws.StatusCode, []byte) {}

// Issue 14 item 6: 1012 (service restart), 1013 (try again later) and 1014
// (bad gateway) are registered codes and were failed with 1002.
func TestCloseCodesRegistered(t *testing.T) {
	for _, code := range []uint16{1012, 1013, 1014} {
		var r recorder
		var d Decoder
		if f := d.Feed(frm(ws.OpClose, true, closeBody(code, "r")), 1<<20, &r); f != nil || len(r.ev) != 1 || r.ev[0] != closeEv(int(code), "r") {
			t.Errorf("close %d: fail %v events %q", code, f, r.ev)
		}
	}
	for code := range 1 << 16 {
		want := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
		if got := validCloseCode(ws.StatusCode(code)); got != want {
			t.Fatalf("validCloseCode(%d) = %v", code, got)
		}
	}
}

// Issue 9: reassembly held up to 4x maxMessage (doubling, then a pool
// class). It now holds at most maxMessage plus a header or a control
// frame's payload, whatever maxMessage is and however the bytes arrive.
func TestDecoderBufferBound(t *testing.T) {
	for _, max := range []int{1000, 5000, 64 << 10, 100000, 1 << 20, 3 << 20} {
		payload := bytes.Repeat([]byte{'x'}, max)
		var in []byte
		for off := 0; off < max; off += 4000 {
			end := min(off+4000, max)
			op := ws.OpContinuation
			if off == 0 {
				op = ws.OpBinary
			}
			in = append(in, frm(op, end == max, payload[off:end])...)
			if off == 8000 {
				in = append(in, frm(ws.OpPing, true, payload[:125])...)
			}
		}
		single := frm(ws.OpBinary, true, payload)
		for name, in := range map[string][]byte{"fragmented": in, "single": single} {
			for _, step := range []int{997, 4096, 65536} {
				var d Decoder
				h := &nopHandler{}
				peak := 0
				for i := 0; i < len(in); i += step {
					if f := d.Feed(in[i:min(i+step, len(in))], max, h); f != nil {
						t.Fatal(f)
					}
					peak = maxOf(peak, d.Buffered())
				}
				if h.n < max {
					t.Fatalf("max %d %s: delivered %d", max, name, h.n)
				}
				if peak > max+bufSlack {
					t.Errorf("max %d %s step %d: decoder held %d bytes (%.2fx)", max, name, step, peak, float64(peak)/float64(max))
				}
				d.Release()
			}
		}
	}
}

func maxOf(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Pending covers every incomplete state, not only fragmented messages:
// issue 14 item 3 was a FIN frame of 65,536 bytes stopped after 65,000.
func TestDecoderPending(t *testing.T) {
	fin := frm(ws.OpBinary, true, bytes.Repeat([]byte{1}, 65536))
	frag1 := frm(ws.OpText, false, []byte("ab"))
	ping := frm(ws.OpPing, true, []byte("0123456789"))
	last := frm(ws.OpContinuation, true, []byte("cd"))
	type step struct {
		name    string
		in      []byte
		pending bool
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"FIN frame trickled", []step{
			{"nothing yet", nil, false},
			{"one header byte", fin[:1], true},
			{"header complete, no payload", fin[1:14], true},
			{"65,000 of 65,536 bytes", fin[14 : 14+65000], true},
			{"one more byte", fin[14+65000 : 14+65001], true},
			{"complete", fin[14+65001:], false},
		}},
		{"fragmented with a ping split inside", []step{
			{"first fragment", frag1, true},
			{"half a ping", ping[:8], true},
			{"rest of the ping", ping[8:], true},
			{"partial last header", last[:1], true},
			{"last fragment", last[1:], false},
		}},
		{"whole frames", []step{
			{"empty FIN frame", frm(ws.OpText, true, nil), false},
			{"ping", ping, false},
			{"two frames, the second cut", cat(frm(ws.OpText, true, []byte("x")), ping[:3]), true},
			{"rest", ping[3:], false},
		}},
		{"done after close", []step{
			{"partial close", frm(ws.OpClose, true, closeBody(1000, "bye"))[:4], true},
			{"close with a partial frame behind it", cat(frm(ws.OpClose, true, closeBody(1000, "bye"))[4:], fin[:20]), false},
		}},
		{"done after failure", []step{
			{"first fragment", frag1, true},
			{"unmasked frame", frm(ws.OpContinuation, false, []byte("x"), unmasked), false},
		}},
	} {
		var d Decoder
		h := &nopHandler{}
		for _, s := range c.steps {
			d.Feed(bytes.Clone(s.in), 1<<20, h)
			if d.Pending() != s.pending {
				t.Errorf("%s / %s: Pending() = %v", c.name, s.name, d.Pending())
			}
		}
		d.Release()
		if d.Pending() {
			t.Errorf("%s: Pending after Release", c.name)
		}
	}
}
