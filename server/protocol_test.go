package server_test

import (
	"github.com/starling-ws/starling/internal/wstest"

	"encoding/binary"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/server"
)

// Every protocol violation closes with its RFC 6455 code, and the other
// connections on the server are unaffected.
func TestViolationsCloseWithCode(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxMessage = 1024 }})
		bystander := wstest.Dial(t, ts.addr).Upgrade()
		bystander.SendJSON(jsonOp("sub", "b", 1, nil))
		expectKV(t, bystander.NextJSON(), "op", "ack")

		unmasked := func(op ws.OpCode, p []byte) []byte {
			b, _ := ws.CompileFrame(ws.NewFrame(op, true, p))
			return b
		}
		rsv := wstest.Frame(ws.OpText, true, []byte("x"))
		rsv[0] |= 0x40
		reserved := wstest.Frame(ws.OpText, true, []byte("x"))
		reserved[0] = reserved[0]&0xf0 | 0x3
		control := wstest.Frame(ws.OpText, true, nil)
		control[0] = control[0]&0xf0 | 0xB
		huge := []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // 64-bit length with MSB set
		closeCode := func(code uint16) []byte {
			p := make([]byte, 2)
			binary.BigEndian.PutUint16(p, code)
			return wstest.Frame(ws.OpClose, true, p)
		}
		cat := func(parts ...[]byte) []byte {
			return []byte(strings.Join(func() []string {
				s := make([]string, len(parts))
				for i, p := range parts {
					s[i] = string(p)
				}
				return s
			}(), ""))
		}

		cases := []struct {
			name string
			in   []byte
			code ws.StatusCode
		}{
			{"unmasked", unmasked(ws.OpText, []byte("hi")), 1002},
			{"rsv bit", rsv, 1002},
			{"reserved data opcode", reserved, 1002},
			{"reserved control opcode", control, 1002},
			{"64-bit length msb", huge, 1002},
			{"ping over 125", wstest.Frame(ws.OpPing, true, make([]byte, 126)), 1002},
			{"fragmented ping", wstest.Frame(ws.OpPing, false, []byte("x")), 1002},
			{"continuation first", wstest.Frame(ws.OpContinuation, true, []byte("x")), 1002},
			{"new message inside fragmented", cat(wstest.Frame(ws.OpText, false, []byte("a")), wstest.Frame(ws.OpText, true, []byte("b"))), 1002},
			{"invalid utf-8", wstest.Frame(ws.OpText, true, []byte{0xff, 0xfe}), 1007},
			{"invalid utf-8 across fragments", cat(wstest.Frame(ws.OpText, false, []byte{'a', 0xe2, 0x82}), wstest.Frame(ws.OpContinuation, true, []byte{0x28})), 1007},
			{"message too big", wstest.Frame(ws.OpBinary, true, make([]byte, 1025)), 1009},
			{"fragments too big", cat(wstest.Frame(ws.OpBinary, false, make([]byte, 600)), wstest.Frame(ws.OpContinuation, true, make([]byte, 600))), 1009},
			{"close one byte", wstest.Frame(ws.OpClose, true, []byte{3}), 1002},
			{"close code 999", closeCode(999), 1002},
			{"close code 1005 on the wire", closeCode(1005), 1002},
			{"close code 1006 on the wire", closeCode(1006), 1002},
			{"close code 2999", closeCode(2999), 1002},
			{"close code 5000", closeCode(5000), 1002},
			{"close reason not utf-8", wstest.Frame(ws.OpClose, true, []byte{0x03, 0xe8, 0xff}), 1007},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := wstest.Dial(t, ts.addr).Upgrade()
				r.Write(c.in)
				r.ExpectClose(c.code)
			})
		}
		// The bystander saw nothing of it and still works.
		bystander.SendJSON(jsonOp("pub", "b", nil, "still here"))
		expectKV(t, bystander.NextJSON(), "op", "msg", "data", "still here")
	})
}

// The close handshake echoes valid codes; an empty close is echoed empty.
func TestCloseHandshakeEcho(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		f := func(payload []byte, want []byte) {
			t.Helper()
			r := wstest.Dial(t, ts.addr).Upgrade()
			r.Send(ws.OpClose, true, payload)
			h, p := r.Next()
			if h.OpCode != ws.OpClose || string(p[:min(2, len(p))]) != string(want) {
				t.Fatalf("close %x: got %v %x, want close %x", payload, h.OpCode, p, want)
			}
			r.ExpectEOF()
		}
		f([]byte{0x03, 0xe8}, []byte{0x03, 0xe8})                // 1000
		f([]byte{0x03, 0xe9, 'b', 'y', 'e'}, []byte{0x03, 0xe9}) // 1001 with reason
		f([]byte{0x0f, 0xa0}, []byte{0x0f, 0xa0})                // 4000 private use
		f(nil, nil)                                              // no status: empty echo
	})
}

// Fragmented messages with an interleaved ping are reassembled; pings are
// answered with the same payload; a handshake and frames arriving one byte
// at a time work the same.
func TestFragmentsPingAndSplitReads(t *testing.T) {
	wstest.EachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		r := wstest.Dial(t, ts.addr).Upgrade()
		r.SendJSON(jsonOp("sub", "f", nil, nil))
		msg := `{"op":"pub","ch":"f","data":"héllo wörld"}`
		b := []byte(msg)
		// Split inside the two-byte 'é' on purpose.
		r.Send(ws.OpText, false, b[:31])
		r.Send(ws.OpPing, true, []byte("are you there"))
		h, p := r.Next()
		if h.OpCode != ws.OpPong || string(p) != "are you there" {
			t.Fatalf("pong: %v %q", h.OpCode, p)
		}
		r.Send(ws.OpContinuation, false, b[31:40])
		r.Send(ws.OpContinuation, true, b[40:])
		expectKV(t, r.NextJSON(), "op", "msg", "data", "héllo wörld")

		slow := wstest.Dial(t, ts.addr)
		all := []byte(wstest.UpgradeRequest("/ws"))
		all = append(all, wstest.Frame(ws.OpText, true, []byte(`{"op":"sub","ch":"s","id":7}`))...)
		for i := range all {
			slow.Write(all[i : i+1])
		}
		if resp := slow.ReadResponse(); resp.StatusCode != 101 {
			t.Fatalf("byte-by-byte upgrade: %d", resp.StatusCode)
		}
		expectKV(t, slow.NextJSON(), "op", "ack", "id", 7)
		// Handshake and first frame in one write.
		one := wstest.Dial(t, ts.addr)
		one.Write(all)
		if resp := one.ReadResponse(); resp.StatusCode != 101 {
			t.Fatalf("coalesced upgrade: %d", resp.StatusCode)
		}
		expectKV(t, one.NextJSON(), "op", "ack", "id", 7)
	})
}
