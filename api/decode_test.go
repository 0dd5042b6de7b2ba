package api

import (
	"runtime"
	"testing"

	"github.com/starling-ws/starling/frame"
)

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestDecodeDeclaredLengths: a body that declares a huge length in a few
// bytes is refused without allocating for the declared size.
func TestDecodeDeclaredLengths(t *testing.T) {
	for name, body := range map[string][]byte{
		"array of 1e6 channels": {0x82, 0xa3, 'c', 'h', 's', 0xdd, 0x00, 0x0f, 0x42, 0x3f},
		"array of 4e9 channels": {0x82, 0xa3, 'c', 'h', 's', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"data str of 4 GB":      {0x82, 0xa4, 'd', 'a', 't', 'a', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"data array of 4e9":     {0x82, 0xa4, 'd', 'a', 't', 'a', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"data map of 4e9":       {0x82, 0xa4, 'd', 'a', 't', 'a', 0xdf, 0xff, 0xff, 0xff, 0xff},
	} {
		var e *Error
		n := allocated(func() {
			var req bcastReq
			e = decode(body, frame.MsgPack, &req)
		})
		if e == nil || e.Status != 400 {
			t.Errorf("%s: %v, want 400", name, e)
		}
		if n > 64<<10 {
			t.Errorf("%s: %d bytes allocated for a %d-byte body", name, n, len(body))
		}
	}
}
