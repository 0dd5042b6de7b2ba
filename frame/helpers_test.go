package frame

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/gobwas/ws"
)

// recorder is a Handler that writes events down as strings so runs can be
// compared.
type recorder struct{ ev []string }

func (r *recorder) Message(text bool, p []byte) {
	r.ev = append(r.ev, fmt.Sprintf("msg text=%v %q", text, p))
}
func (r *recorder) Ping(p []byte) { r.ev = append(r.ev, fmt.Sprintf("ping %q", p)) }
func (r *recorder) Pong(p []byte) { r.ev = append(r.ev, fmt.Sprintf("pong %q", p)) }
func (r *recorder) Close(code ws.StatusCode, reason []byte) {
	r.ev = append(r.ev, fmt.Sprintf("close %d %q", code, reason))
}

// nopHandler discards events (benchmarks, alloc tests).
type nopHandler struct{ n int }

func (h *nopHandler) Message(_ bool, p []byte)        { h.n += len(p) }
func (h *nopHandler) Ping(p []byte)                   { h.n += len(p) }
func (h *nopHandler) Pong(p []byte)                   { h.n += len(p) }
func (h *nopHandler) Close(_ ws.StatusCode, p []byte) { h.n += len(p) }

// outcome is everything a feeding run produced.
type outcome struct {
	ev       []string
	code     ws.StatusCode
	reason   string
	buffered int // after Release
	peak     int // the most Buffered() reported after any Feed
}

func (o outcome) String() string {
	return fmt.Sprintf("events=%q fail=%d %q", o.ev, o.code, o.reason)
}

func (o outcome) equal(p outcome) bool {
	return fmt.Sprint(o.ev) == fmt.Sprint(p.ev) && o.code == p.code && o.reason == p.reason
}

// feedCuts feeds a copy of in to a fresh decoder (after setup) in pieces
// ending at the given cut offsets (sorted, within in), stopping at the
// first failure.
func feedCuts(in []byte, maxMessage int, cuts []int, setup ...func(*Decoder)) outcome {
	b := bytes.Clone(in)
	var d Decoder
	for _, f := range setup {
		f(&d)
	}
	var r recorder
	var o outcome
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if c < prev {
			continue
		}
		f := d.Feed(b[prev:c], maxMessage, &r)
		o.peak = max(o.peak, d.Buffered())
		if f != nil {
			o.code, o.reason = f.Code, f.Reason
			break
		}
		prev = c
	}
	o.ev = r.ev
	d.Release()
	o.buffered = d.Buffered()
	return o
}

// randomCuts derives n sorted cut points in [0, size] from rng.
func randomCuts(rng *rand.Rand, size, n int) []int {
	if size == 0 {
		return nil
	}
	cuts := make([]int, n)
	for i := range cuts {
		cuts[i] = rng.IntN(size + 1)
	}
	for i := 1; i < len(cuts); i++ {
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	return cuts
}

func byteCuts(size int) []int {
	cuts := make([]int, size)
	for i := range cuts {
		cuts[i] = i
	}
	return cuts
}

// frm builds one client frame with gobwas/ws: masked unless unmasked is
// set, with the given RSV bits.
func frm(op ws.OpCode, fin bool, p []byte, opts ...func(*ws.Frame)) []byte {
	f := ws.NewFrame(op, fin, bytes.Clone(p))
	f = ws.MaskFrameWith(f, [4]byte{0x37, 0xfa, 0x21, 0x3d})
	for _, o := range opts {
		o(&f)
	}
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

func unmasked(f *ws.Frame) {
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	f.Header.Masked = false
	f.Header.Mask = [4]byte{}
}

func rsv(bits byte) func(*ws.Frame) { return func(f *ws.Frame) { f.Header.Rsv = bits } }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func closeBody(code uint16, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}
