package frame

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"testing"

	kpflate "github.com/klauspost/compress/flate"
)

// The measurement behind the deflate library choice (see deflate_out.go):
// each candidate compresses one publish's data part as a fresh stream with
// a reused (pooled) writer, ending in a sync flush, and inflates it back
// with a reused reader fed by the same tailReader AppendInflate uses. Run:
//
//	go test -run '^$' -bench 'DeflateLib' -benchtime 2000x ./frame/
//
// ratio = plain bytes / compressed bytes.

type libWriter interface {
	Reset(io.Writer)
	Write([]byte) (int, error)
	Flush() error
}

type libCase struct {
	name      string
	newWriter func() libWriter
	newReader func() io.ReadCloser
}

// statelessWriter adapts klauspost's StatelessDeflate (no writer state at
// all) to the loop below.
type statelessWriter struct{ w io.Writer }

func (s *statelessWriter) Reset(w io.Writer) { s.w = w }
func (s *statelessWriter) Write(p []byte) (int, error) {
	return len(p), kpflate.StatelessDeflate(s.w, p, false, nil)
}
func (s *statelessWriter) Flush() error { return nil }

var libCases = []libCase{
	{"std-1", func() libWriter { w, _ := stdflate.NewWriter(nil, 1); return w }, func() io.ReadCloser { return stdflate.NewReader(nil) }},
	{"std-6", func() libWriter { w, _ := stdflate.NewWriter(nil, 6); return w }, func() io.ReadCloser { return stdflate.NewReader(nil) }},
	{"kp-1", func() libWriter { w, _ := kpflate.NewWriter(nil, 1); return w }, func() io.ReadCloser { return kpflate.NewReader(nil) }},
	{"kp-5", func() libWriter { w, _ := kpflate.NewWriter(nil, 5); return w }, func() io.ReadCloser { return kpflate.NewReader(nil) }},
	{"kp-stateless", func() libWriter { return &statelessWriter{} }, func() io.ReadCloser { return kpflate.NewReader(nil) }},
}

var libPayloads = []struct {
	name string
	kind string
	size int
	enc  Enc
}{
	{"chat-json-1k", "chat", 1 << 10, JSON},
	{"odds-json-1k", "odds", 1 << 10, JSON},
	{"chat-json-16k", "chat", 16 << 10, JSON},
	{"odds-json-16k", "odds", 16 << 10, JSON},
	{"chat-json-64k", "chat", 64 << 10, JSON},
	{"odds-json-64k", "odds", 64 << 10, JSON},
	{"chat-mp-1k", "chat", 1 << 10, MsgPack},
	{"odds-mp-16k", "odds", 16 << 10, MsgPack},
}

func BenchmarkDeflateLibCompress(b *testing.B) {
	for _, p := range libPayloads {
		data := deflatePayload(p.kind, p.size, p.enc)
		for _, c := range libCases {
			b.Run(fmt.Sprintf("%s/%s", p.name, c.name), func(b *testing.B) {
				w := c.newWriter()
				var out bytes.Buffer
				out.Grow(2 * len(data))
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					out.Reset()
					w.Reset(&out)
					w.Write(data)
					w.Flush()
				}
				b.ReportMetric(float64(len(data))/float64(out.Len()-4), "ratio")
			})
		}
	}
}

func BenchmarkDeflateLibInflate(b *testing.B) {
	for _, p := range libPayloads {
		data := deflatePayload(p.kind, p.size, p.enc)
		var comp bytes.Buffer
		w, _ := kpflate.NewWriter(&comp, 5)
		w.Write(data)
		w.Flush()
		body := comp.Bytes()[:comp.Len()-4] // as on the wire (RFC 7692 7.2.1)
		for _, lib := range []struct {
			name string
			r    func() io.ReadCloser
		}{{"std", func() io.ReadCloser { return stdflate.NewReader(nil) }}, {"kp", func() io.ReadCloser { return kpflate.NewReader(nil) }}} {
			b.Run(fmt.Sprintf("%s/%s", p.name, lib.name), func(b *testing.B) {
				r := lib.r()
				var src tailReader
				out := make([]byte, len(data)+1)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					src.reset(body)
					r.(stdflate.Resetter).Reset(&src, nil)
					n, err := io.ReadFull(r, out)
					if n != len(data) || err != io.ErrUnexpectedEOF {
						b.Fatalf("inflated %d of %d: %v", n, len(data), err)
					}
				}
			})
		}
	}
}

// BenchmarkDeflateLibWriterSize: heap bytes one writer holds (the cost of
// each pooled compressor).
func BenchmarkDeflateLibWriterSize(b *testing.B) {
	for _, c := range libCases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Sink += len(fmt.Sprint(c.newWriter() != nil))
			}
		})
	}
}
