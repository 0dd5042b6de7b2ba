package wsframe

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// Every frame AppendClient builds is read back by an independent reader
// (gobwas/ws) as a masked frame with the same opcode, FIN bit and payload,
// across the three length encodings.
func TestAppendClientReadByGobwas(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		for _, fin := range []bool{true, false} {
			p := bytes.Repeat([]byte{'a', 'b', 'c'}, n/3+1)[:n]
			b := AppendClient([]byte("prefix"), ws.OpBinary, fin, p)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("n=%d: the caller's bytes were overwritten", n)
			}
			f, err := ws.ReadFrame(bufio.NewReader(bytes.NewReader(b[len("prefix"):])))
			if err != nil {
				t.Fatalf("n=%d fin=%v: %v", n, fin, err)
			}
			if !f.Header.Masked || f.Header.OpCode != ws.OpBinary || f.Header.Fin != fin || f.Header.Length != int64(n) {
				t.Fatalf("n=%d fin=%v: header %+v", n, fin, f.Header)
			}
			ws.Cipher(f.Payload, f.Header.Mask, 0)
			if !bytes.Equal(f.Payload, p) {
				t.Fatalf("n=%d: payload differs after unmasking", n)
			}
		}
	}
}

func TestAppendClientAllocatesNothingWithRoom(t *testing.T) {
	buf := make([]byte, 0, 256)
	p := []byte(`{"op":"pub","ch":"x","data":1}`)
	if a := testing.AllocsPerRun(100, func() { buf = AppendClient(buf[:0], ws.OpText, true, p) }); a != 0 {
		t.Fatalf("%v allocations per frame into a buffer with room", a)
	}
}

// ParseHeader agrees with gobwas/ws's writer on every length encoding,
// masked or not, and reports an incomplete header as not ok at every cut.
func TestParseHeaderMatchesGobwas(t *testing.T) {
	for _, n := range []int64{0, 5, 125, 126, 65535, 65536, 1 << 40} {
		for _, masked := range []bool{false, true} {
			want := ws.Header{Fin: n != 5, Rsv: ws.Rsv(n == 126, false, true), OpCode: ws.OpText, Length: n, Masked: masked, Mask: [4]byte{1, 2, 3, 4}}
			var w bytes.Buffer
			if err := ws.WriteHeader(&w, want); err != nil {
				t.Fatal(err)
			}
			b := append(w.Bytes(), 'x')
			h, ok := ParseHeader(b)
			if !ok || h.Size != w.Len() || h.Len != uint64(n) || h.Op != want.OpCode || h.Fin != want.Fin ||
				h.Rsv != want.Rsv || h.Masked != masked || (masked && h.Mask != want.Mask) {
				t.Fatalf("len %d masked %v: got %+v ok=%v, want %+v in %d bytes", n, masked, h, ok, want, w.Len())
			}
			for cut := 0; cut < w.Len(); cut++ {
				if _, ok := ParseHeader(b[:cut]); ok {
					t.Fatalf("len %d masked %v: %d of %d header bytes parsed as complete", n, masked, cut, w.Len())
				}
			}
		}
	}
}

// FuzzParseHeader: any input parses without panic, and a complete header
// reads the same as gobwas/ws reads it.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00})
	f.Add([]byte{0x02, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := ParseHeader(b)
		if !ok {
			return
		}
		if h.Size > len(b) {
			t.Fatalf("header of %d bytes from %d", h.Size, len(b))
		}
		g, err := ws.ReadHeader(bytes.NewReader(b))
		if err != nil {
			if h.Len <= 1<<63-1 {
				// gobwas refuses a 64-bit length with the top bit set
				// (RFC 6455 5.2); below that it must agree.
				t.Fatalf("gobwas: %v for %x, ParseHeader %+v", err, b, h)
			}
			return
		}
		if uint64(g.Length) != h.Len || g.OpCode != h.Op || g.Fin != h.Fin || g.Rsv != h.Rsv || g.Masked != h.Masked || g.Mask != h.Mask {
			t.Fatalf("%x: gobwas %+v, ParseHeader %+v", b, g, h)
		}
	})
}
