package loadclient

import (
	"testing"

	"github.com/starling-ws/starling/frame"
)

// The 101's extension header is read whatever its case; a compressed push
// is inflated and counted as a msg, its wire bytes as they came.
func TestDeflateClient(t *testing.T) {
	for head, want := range map[string]bool{
		"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover": true,
		"HTTP/1.1 101 Switching Protocols\r\nsec-websocket-extensions: permessage-deflate\r\nX: y":                     true,
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket":                                                       false,
		"HTTP/1.1 101 Switching Protocols\r\nX-Note: permessage-deflate":                                               false,
	} {
		if agreedDeflate([]byte(head)) != want {
			t.Errorf("%q: want %v", head, want)
		}
	}
	cl := newClient()
	data := []byte(`"7:1234567890123:` + string(appendPad(nil, 0, 2000, 7)) + `"`)
	part, ok := frame.AppendDeflatedPart(nil, frame.JSON, data, 0)
	if !ok {
		t.Fatal("padding did not compress")
	}
	f := frame.FinishDeflatedMsg(part, frame.DeflateRoom, frame.JSON, []byte("bc0"), 1)
	t.Logf("a 2000-byte padded data part compresses to a %d-byte frame", len(f))
	if len(f) > len(data)/2 || len(f) < len(data)/6 {
		t.Errorf("padding compresses to %d of %d bytes: not like text", len(f), len(data))
	}
	cc := &cconn{deflate: true}
	if n := cl.frames(cc, f); n != len(f) {
		t.Fatalf("used %d of %d", n, len(f))
	}
	if st := cl.stats(); st.Msgs != 1 || st.Compressed != 1 {
		t.Fatalf("msgs %d compressed %d", st.Msgs, st.Compressed)
	}
}
