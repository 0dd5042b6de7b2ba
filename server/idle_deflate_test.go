package server_test

import "testing"

// The idle cost of permessage-deflate (issue 12): N real connections, held
// idle by a client in another process, each run in a fresh server process
// (TestIdleGateCost's harness), with every connection having negotiated
// permessage-deflate ("deflate") and with none offering it ("open"). The
// negotiated state is one bit in the decoder's flags, and the compressors
// and inflaters are pooled, used only by publishes and compressed
// messages; so idle, both modes must cost the same.
//
// It is a measurement, not part of the default suite:
//
//	STARLING_IDLE_DEFLATE_N=19000 go test -run '^TestIdleDeflateCost$' -v -timeout 30m ./server/
//
// The assertion: compression negotiated keeps at most 16 B per idle
// connection (heap) over none.
func TestIdleDeflateCost(t *testing.T) {
	heap, _ := idleModes(t, "STARLING_IDLE_DEFLATE", "open", "deflate")
	if dh := heap["deflate"] - heap["open"]; dh > 16 {
		t.Fatalf("permessage-deflate keeps %.1f B per idle connection over none (heap): more than 16", dh)
	}
}
