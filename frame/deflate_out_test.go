package frame

import (
	"bytes"
	stdflate "compress/flate"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
	kpflate "github.com/klauspost/compress/flate"
)

// inflateWith inflates a permessage-deflate payload the way RFC 7692
// 7.2.2 says, with an inflater independent of ours: newReader is
// compress/flate's or klauspost's NewReader.
func inflateWith(t testing.TB, newReader func(io.Reader) io.ReadCloser, payload []byte) []byte {
	t.Helper()
	r := newReader(io.MultiReader(bytes.NewReader(payload), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func inflateStd(t testing.TB, payload []byte) []byte {
	return inflateWith(t, stdflate.NewReader, payload)
}

// buildDeflated runs both phases and returns the frame, or nil if the part
// was not kept.
func buildDeflated(t testing.TB, dst []byte, enc Enc, ch []byte, off uint64, data []byte, minSize int) []byte {
	t.Helper()
	out, ok := AppendDeflatedPart(dst, enc, data, minSize)
	if !ok {
		if len(out) != len(dst) {
			t.Fatalf("not kept but dst grew from %d to %d", len(dst), len(out))
		}
		return nil
	}
	return FinishDeflatedMsg(out[len(dst):], DeflateRoom, enc, ch, off)
}

func readServerFrame(t testing.TB, b []byte) ws.Frame {
	t.Helper()
	r := bytes.NewReader(b)
	f, err := ws.ReadFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the frame", r.Len())
	}
	return f
}

func TestDeflatedMsgInflatesToPlain(t *testing.T) {
	type payload struct {
		name string
		data []byte
	}
	var cases []struct {
		enc  Enc
		data payload
	}
	for _, enc := range []Enc{JSON, MsgPack} {
		for _, kind := range []string{"chat", "odds"} {
			for _, size := range []int{300, 1 << 10, 16 << 10, 64 << 10, 200 << 10} {
				cases = append(cases, struct {
					enc  Enc
					data payload
				}{enc, payload{fmt.Sprintf("%s-%d", kind, size), deflatePayload(kind, size, enc)}})
			}
		}
	}
	// A small, very compressible value (a 2-byte frame header) and a large
	// one (a 10-byte header).
	cases = append(cases, struct {
		enc  Enc
		data payload
	}{JSON, payload{"tiny", []byte(`"` + strings.Repeat("ab", 200) + `"`)}}, struct {
		enc  Enc
		data payload
	}{JSON, payload{"1m", deflatePayload("chat", 1<<20, JSON)}})
	sizes := map[int]bool{}
	for _, c := range cases {
		for _, ch := range []string{"n", "market.btc-usd", strings.Repeat("c", MaxChannel)} {
			for _, off := range []uint64{0, 7, 1 << 20, 1<<64 - 1} {
				name := fmt.Sprintf("%v/%s/ch%d/off%d", c.enc, c.data.name, len(ch), off)
				plain, err := AppendMsg(nil, c.enc, []byte(ch), off, c.data.data)
				if err != nil {
					t.Fatal(err)
				}
				want := readServerFrame(t, plain)
				dst := []byte("keep") // AppendDeflatedPart appends after what dst holds
				fr := buildDeflated(t, dst, c.enc, []byte(ch), off, c.data.data, 0)
				if fr == nil {
					t.Fatalf("%s: not kept", name)
				}
				if string(dst) != "keep" {
					t.Fatalf("%s: dst prefix overwritten", name)
				}
				got := readServerFrame(t, fr)
				if got.Header.Rsv != 4 || !got.Header.Fin || got.Header.OpCode != want.Header.OpCode || got.Header.Masked {
					t.Fatalf("%s: header %+v", name, got.Header)
				}
				if len(fr) >= len(plain) {
					t.Fatalf("%s: compressed frame %d bytes, plain %d", name, len(fr), len(plain))
				}
				sizes[len(fr)-len(got.Payload)] = true
				if p := inflateStd(t, got.Payload); !bytes.Equal(p, want.Payload) {
					t.Fatalf("%s: compress/flate inflates to %.60q..., want %.60q...", name, p, want.Payload)
				}
				if p := inflateWith(t, kpflate.NewReader, got.Payload); !bytes.Equal(p, want.Payload) {
					t.Fatalf("%s: klauspost inflates to something else", name)
				}
				p, f := AppendInflate(nil, got.Payload, c.enc == JSON, len(want.Payload))
				if f != nil || !bytes.Equal(p, want.Payload) {
					t.Fatalf("%s: AppendInflate: %v", name, f)
				}
			}
		}
	}
	for _, hs := range []int{2, 4, 10} {
		if !sizes[hs] {
			t.Errorf("no frame with a %d-byte header was built: %v", hs, sizes)
		}
	}
}

func TestDeflatedPartNotKept(t *testing.T) {
	data := deflatePayload("chat", 1<<10, JSON)
	dst := []byte("prefix")
	if out, ok := AppendDeflatedPart(dst, JSON, data, len(data)+2); ok || string(out) != "prefix" {
		t.Fatalf("below minSize: ok=%v out=%q", ok, out)
	}
	if out, ok := AppendDeflatedPart(dst, JSON, data, len(data)+1); !ok || len(out) <= len(dst) {
		t.Fatalf("at minSize (data + '}'): ok=%v", ok)
	}
	// Random bytes in a MessagePack bin value do not compress.
	noise := make([]byte, 4096)
	rand.Read(noise)
	bin := append([]byte{0xc5, 0x10, 0x00}, noise...)
	out, ok := AppendDeflatedPart(dst, MsgPack, bin, 0)
	if ok || string(out) != "prefix" {
		t.Fatalf("incompressible data kept: ok=%v len=%d", ok, len(out))
	}
	if _, ok := AppendDeflatedPart(dst, JSON, nil, 0); ok {
		t.Fatal("empty data kept")
	}
}

// A channel name longer than the room allows still gives a correct frame.
func TestFinishDeflatedMsgLongChannel(t *testing.T) {
	data := deflatePayload("odds", 2<<10, JSON)
	ch := []byte(strings.Repeat("q", 3*MaxChannel))
	fr := buildDeflated(t, nil, JSON, ch, 99, data, 0)
	plain, _ := AppendMsg(nil, JSON, ch, 99, data)
	if p := inflateStd(t, readServerFrame(t, fr).Payload); !bytes.Equal(p, readServerFrame(t, plain).Payload) {
		t.Fatal("long channel: payload differs")
	}
}

// Publishers compress concurrently with pooled compressors.
func TestDeflateConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				enc := Enc(g % 2)
				data := deflatePayload([]string{"chat", "odds"}[i%2], (1+i%5)<<10, enc)
				fr := buildDeflated(t, nil, enc, []byte("c"), uint64(i), data, 0)
				plain, _ := AppendMsg(nil, enc, []byte("c"), uint64(i), data)
				p, f := AppendInflate(nil, readServerFrame(t, fr).Payload, enc == JSON, 1<<20)
				if f != nil || !bytes.Equal(p, readServerFrame(t, plain).Payload) {
					t.Errorf("goroutine %d message %d: %v", g, i, f)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkAppendDeflatedPart(b *testing.B) {
	for _, p := range []struct {
		name string
		kind string
		size int
		enc  Enc
	}{{"chat-json-1k", "chat", 1 << 10, JSON}, {"odds-json-16k", "odds", 16 << 10, JSON}, {"odds-mp-16k", "odds", 16 << 10, MsgPack}} {
		data := deflatePayload(p.kind, p.size, p.enc)
		b.Run(p.name, func(b *testing.B) {
			dst := make([]byte, 0, DeflateRoom+len(data)+1)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var out []byte
			for b.Loop() {
				var ok bool
				if out, ok = AppendDeflatedPart(dst, p.enc, data, 0); !ok {
					b.Fatal("not kept")
				}
			}
			b.ReportMetric(float64(len(data)+1)/float64(len(out)-DeflateRoom), "ratio")
		})
	}
}

func BenchmarkFinishDeflatedMsg(b *testing.B) {
	data := deflatePayload("chat", 1<<10, JSON)
	part, _ := AppendDeflatedPart(nil, JSON, data, 0)
	ch := []byte("market.btc-usd")
	b.ReportAllocs()
	off := uint64(1 << 40)
	for b.Loop() {
		off++
		Sink = len(FinishDeflatedMsg(part, DeflateRoom, JSON, ch, off))
	}
}
