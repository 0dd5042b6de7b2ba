package frame

import (
	"runtime"
	"testing"
)

// TestDeflateStateBytes measures the heap one pooled compressor and one
// pooled inflater hold after a use each, against DeflaterBytes and
// InflaterBytes: within them, and not below half (a bound far above the
// truth would overstate the fixed cost in plans).
func TestDeflateStateBytes(t *testing.T) {
	const n = 64
	data := deflatePayload("chat", 16<<10, JSON)
	part, _ := AppendDeflatedPart(nil, JSON, data, 0)
	fr := readServerFrame(t, FinishDeflatedMsg(part, DeflateRoom, JSON, []byte("c"), 1))
	out := make([]byte, 0, 64<<10)

	per := func(mk func() any) uint64 {
		keep := make([]any, n)
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		for i := range keep {
			keep[i] = mk()
		}
		runtime.GC()
		runtime.ReadMemStats(&b)
		runtime.KeepAlive(keep)
		return (b.HeapAlloc - a.HeapAlloc) / n
	}
	def := per(func() any {
		z := deflaters.New().(*deflater)
		z.out.b, z.out.limit = make([]byte, 0, 32<<10), 32<<10
		z.fw.Reset(&z.out)
		z.fw.Write(data)
		z.fw.Flush()
		z.out.b = nil // the output is the caller's, not the compressor's
		return z
	})
	inf := per(func() any {
		z := inflaters.New().(*inflater)
		z.src.reset(fr.Payload)
		z.rs.Reset(&z.src, nil)
		for {
			k, err := z.rd.Read(out[:cap(out)])
			if k == 0 || err != nil {
				break
			}
		}
		z.src.reset(nil)
		return z
	})
	t.Logf("one compressor %d B (DeflaterBytes %d), one inflater %d B (InflaterBytes %d)", def, DeflaterBytes, inf, InflaterBytes)
	if def > DeflaterBytes || def < DeflaterBytes/2 {
		t.Errorf("a compressor holds %d B: DeflaterBytes (%d) is not its bound", def, DeflaterBytes)
	}
	if inf > InflaterBytes || inf < InflaterBytes/2 {
		t.Errorf("an inflater holds %d B: InflaterBytes (%d) is not its bound", inf, InflaterBytes)
	}
}
