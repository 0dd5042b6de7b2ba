package frame

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// deflateStd compresses msg as a client would: a fresh compress/flate
// stream, sync flush, 00 00 ff ff removed.
func deflateStd(t testing.TB, msg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := stdflate.NewWriter(&b, stdflate.DefaultCompression)
	w.Write(msg)
	w.Flush()
	out := b.Bytes()
	if !hasSyncTail(out) {
		t.Fatal("no sync tail")
	}
	return out[:len(out)-4]
}

func hexBytes(s string) []byte {
	var b []byte
	for f := range strings.FieldsSeq(s) {
		var v byte
		for _, c := range f {
			v = v<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		b = append(b, v)
	}
	return b
}

func TestInflateRFCExamples(t *testing.T) {
	// RFC 7692 section 7.2.3: "Hello" in several legal shapes.
	for _, c := range []struct{ name, hex string }{
		{"fixed huffman (7.2.3.1)", "f2 48 cd c9 c9 07 00"},
		{"stored block (7.2.3.3)", "00 05 00 fa ff 48 65 6c 6c 6f 00"},
		{"BFINAL set (7.2.3.4)", "f3 48 cd c9 c9 07 00 00"},
		{"two blocks (7.2.3.5)", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00"},
	} {
		got, f := AppendInflate([]byte("x:"), hexBytes(c.hex), true, 5)
		if f != nil || string(got) != "x:Hello" {
			t.Errorf("%s: got %q %v", c.name, got, f)
		}
	}
	// An empty message (7.2.3.6 shows the empty block a sender may use).
	if got, f := AppendInflate(nil, []byte{0x00}, true, 10); f != nil || len(got) != 0 {
		t.Errorf("empty: %q %v", got, f)
	}
	if got, f := AppendInflate(nil, []byte{0x02, 0x00}, false, 10); f != nil || len(got) != 0 {
		t.Errorf("empty fixed block: %q %v", got, f)
	}
}

func TestInflateRoundTrip(t *testing.T) {
	for _, enc := range []Enc{JSON, MsgPack} {
		for _, size := range []int{10, 1 << 10, 64 << 10, 300 << 10} {
			msg := deflatePayload("chat", size, enc)
			p := deflateStd(t, msg)
			got, f := AppendInflate(nil, p, enc == JSON, len(msg))
			if f != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%v %d: %v", enc, size, f)
			}
			// Output capacity stays within the bound even when growing.
			if cap(got) > len(msg)+1 {
				t.Fatalf("%v %d: cap %d for a %d-byte message", enc, size, cap(got), len(msg))
			}
			if _, f := AppendInflate(nil, p, enc == JSON, len(msg)-1); f == nil || f.Code != ws.StatusMessageTooBig {
				t.Fatalf("%v %d: one byte over max: %v", enc, size, f)
			}
		}
	}
}

// zeroBomb is a deflate payload (sync-flushed, tail removed) that inflates
// to n MiB of zeros: one flushed MiB repeated, each copy a valid block
// sequence continuing the last (its references reach only zeros).
func zeroBomb(t testing.TB, n int) []byte {
	unit := deflateStd(t, make([]byte, 1<<20))
	unit = append(unit, 0, 0, 0xff, 0xff)
	b := bytes.Repeat(unit, n)
	return b[:len(b)-4]
}

func TestInflateBomb(t *testing.T) {
	small := zeroBomb(t, 1) // ~1 KiB -> 1 MiB: deflate's ratio tops out near 1032:1
	if out, f := AppendInflate(nil, small, false, 2<<20); f != nil || len(out) != 1<<20 {
		t.Fatalf("1 MiB bomb under a 2 MiB bound: len %d %v", len(out), f)
	}
	t.Logf("1 MiB of zeros compresses to %d bytes", len(small))
	if _, f := AppendInflate(nil, small, false, 64<<10); f == nil || f.Code != ws.StatusMessageTooBig {
		t.Fatalf("1 MiB bomb, 64 KiB bound: %v", f)
	}

	big := zeroBomb(t, 1024) // -> 1 GiB
	t.Logf("1 GiB of zeros in %d bytes", len(big))
	const max = 1 << 20
	dst := make([]byte, 0, 16)
	start := time.Now()
	out, f := AppendInflate(dst, big, true, max)
	took := time.Since(start)
	if f == nil || f.Code != ws.StatusMessageTooBig {
		t.Fatalf("1 GiB bomb: %v", f)
	}
	if len(out) != 0 {
		t.Fatalf("partial output returned: %d bytes", len(out))
	}
	// The output buffer is the whole memory cost: never past max+1.
	if cap(out) > max+1 {
		t.Fatalf("grew to %d bytes for a %d bound", cap(out), max)
	}
	t.Logf("1 GiB bomb stopped at the 1 MiB bound in %v", took)
}

func TestInflateInvalid(t *testing.T) {
	valid := deflateStd(t, []byte(`{"op":"pub","ch":"a","data":"hello hello hello"}`))
	// A client that kept its context although we asked it not to: the
	// second message refers back into the first.
	var ctx bytes.Buffer
	w, _ := stdflate.NewWriter(&ctx, 6)
	w.Write([]byte("the same words, the same words"))
	w.Flush()
	first := ctx.Len()
	w.Write([]byte("the same words, the same words"))
	w.Flush()
	second := ctx.Bytes()[first : ctx.Len()-4]

	for _, c := range []struct {
		name string
		p    []byte
		text bool
	}{
		{"reserved block type", []byte{0x06, 0x00}, false},
		{"stored block with bad NLEN", []byte{0x00, 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'}, false},
		{"truncated stored block", []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 'h', 'e'}, false},
		{"garbage", []byte("this is not deflate data at all"), false},
		{"truncated stream", valid[:len(valid)/2], true},
		{"context takeover", second, false},
		{"invalid utf-8 in text", deflateStd(t, []byte("ok \xff")), true},
	} {
		got, f := AppendInflate([]byte("keep"), c.p, c.text, 1<<20)
		if f == nil || f.Code != ws.StatusInvalidFramePayloadData {
			t.Errorf("%s: want 1007, got %v (out %q)", c.name, f, got)
		}
		if string(got) != "keep" {
			t.Errorf("%s: dst not restored: %q", c.name, got)
		}
	}
	// The same bytes as binary are fine.
	if _, f := AppendInflate(nil, deflateStd(t, []byte("ok \xff")), false, 100); f != nil {
		t.Errorf("invalid utf-8 in binary: %v", f)
	}
	// Pooled state is clean after failures.
	if got, f := AppendInflate(nil, valid, true, 1<<20); f != nil || !strings.HasPrefix(string(got), `{"op":"pub"`) {
		t.Errorf("after failures: %q %v", got, f)
	}
}

func BenchmarkAppendInflate(b *testing.B) {
	for _, c := range []struct {
		name string
		kind string
		size int
	}{{"chat-json-1k", "chat", 1 << 10}, {"odds-json-16k", "odds", 16 << 10}} {
		msg := deflatePayload(c.kind, c.size, JSON)
		p := deflateStd(b, msg)
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, 0, len(msg)+1)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				out, f := AppendInflate(dst, p, true, 1<<20)
				if f != nil {
					b.Fatal(f)
				}
				Sink = len(out)
			}
		})
	}
}

// FuzzAppendInflate compares AppendInflate with compress/flate reading the
// same payload plus the RFC 7692 tail, up to the same bound. Where
// compress/flate succeeds within the bound, the output must be identical;
// where it fails, AppendInflate must fail too (1009 if its inflater
// produced more than max bytes before it saw the fault, else 1007).
func FuzzAppendInflate(f *testing.F) {
	for _, s := range []string{"f2 48 cd c9 c9 07 00", "00 05 00 fa ff 48 65 6c 6c 6f 00", "f3 48 cd c9 c9 07 00 00", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00", "06 00", "00"} {
		f.Add(hexBytes(s), uint16(100), true)
	}
	f.Add(deflateStd(f, deflatePayload("chat", 2<<10, JSON)), uint16(3000), true)
	f.Add(deflateStd(f, make([]byte, 40000)), uint16(30000), false)
	// Found by the fuzzer: klauspost emits 8 bytes before its error,
	// compress/flate fails first; with max 6 AppendInflate says 1009.
	f.Add([]byte("$\n %70"), uint16(5), true)
	f.Fuzz(func(t *testing.T, p []byte, maxSel uint16, text bool) {
		max := int(maxSel) + 1
		got, fail := AppendInflate([]byte("x"), p, text, max)
		if string(got[:1]) != "x" || (fail != nil && len(got) != 1) {
			t.Fatalf("dst prefix not kept or partial output returned: %q", got)
		}
		r := stdflate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader(inflateTail)))
		want, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		switch {
		case len(want) > max:
			if fail == nil || fail.Code != ws.StatusMessageTooBig {
				t.Fatalf("compress/flate passed the bound, AppendInflate: %v", fail)
			}
		case err != nil:
			if fail == nil {
				t.Fatalf("compress/flate: %v; AppendInflate accepted %d bytes", err, len(got)-1)
			}
		case text && !utf8.Valid(want):
			if fail == nil || fail.Code != ws.StatusInvalidFramePayloadData {
				t.Fatalf("invalid utf-8 inflated; AppendInflate: %v", fail)
			}
		default:
			if fail != nil || string(got[1:]) != string(want) {
				t.Fatalf("AppendInflate: %v, %d bytes; compress/flate: %d bytes", fail, len(got)-1, len(want))
			}
		}
	})
}
