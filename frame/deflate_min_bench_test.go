package frame

import (
	"fmt"
	"testing"
)

// BenchmarkDeflateSmall: what compressing a publish's data part costs and
// saves for small data parts, the measurement behind the server's
// -compress-min default (server.Defaults): the first bytes of the chat and
// odds JSON cut to n (whether it parses does not matter to deflate).
// "saved-B" is the plain part minus the compressed payload with its stored
// block header; 0 when AppendDeflatedPart declines.
//
//	go test -run '^$' -bench DeflateSmall -count 5 ./frame/
func BenchmarkDeflateSmall(b *testing.B) {
	for _, kind := range []string{"chat", "odds"} {
		full := deflatePayload(kind, 4<<10, JSON)
		for _, n := range []int{64, 128, 192, 256, 384, 512, 1024, 2048} {
			data := full[:n]
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				dst := make([]byte, 0, DeflateRoom+n+1)
				var out []byte
				var ok bool
				b.ReportAllocs()
				for b.Loop() {
					out, ok = AppendDeflatedPart(dst, JSON, data, 0)
				}
				saved := 0
				if ok {
					saved = n + 1 - (len(out) - DeflateRoom + storedHeaderLen)
				}
				b.ReportMetric(float64(saved), "saved-B")
				b.ReportMetric(100*float64(saved)/float64(n+1), "saved-%")
			})
		}
	}
}
