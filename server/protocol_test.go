package server_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/server"
)

// Every protocol violation closes with its RFC 6455 code, and the other
// connections on the server are unaffected.
func TestViolationsCloseWithCode(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{srv: func(c *server.Config) { c.MaxMessage = 1024 }})
		bystander := dialRaw(t, ts.addr).upgrade()
		bystander.sendJSON(jsonOp("sub", "b", 1, nil))
		expectKV(t, bystander.nextJSON(), "op", "ack")

		unmasked := func(op ws.OpCode, p []byte) []byte {
			b, _ := ws.CompileFrame(ws.NewFrame(op, true, p))
			return b
		}
		rsv := clientFrame(ws.OpText, true, []byte("x"))
		rsv[0] |= 0x40
		reserved := clientFrame(ws.OpText, true, []byte("x"))
		reserved[0] = reserved[0]&0xf0 | 0x3
		control := clientFrame(ws.OpText, true, nil)
		control[0] = control[0]&0xf0 | 0xB
		huge := []byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // 64-bit length with MSB set
		closeCode := func(code uint16) []byte {
			p := make([]byte, 2)
			binary.BigEndian.PutUint16(p, code)
			return clientFrame(ws.OpClose, true, p)
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
			{"ping over 125", clientFrame(ws.OpPing, true, make([]byte, 126)), 1002},
			{"fragmented ping", clientFrame(ws.OpPing, false, []byte("x")), 1002},
			{"continuation first", clientFrame(ws.OpContinuation, true, []byte("x")), 1002},
			{"new message inside fragmented", cat(clientFrame(ws.OpText, false, []byte("a")), clientFrame(ws.OpText, true, []byte("b"))), 1002},
			{"invalid utf-8", clientFrame(ws.OpText, true, []byte{0xff, 0xfe}), 1007},
			{"invalid utf-8 across fragments", cat(clientFrame(ws.OpText, false, []byte{'a', 0xe2, 0x82}), clientFrame(ws.OpContinuation, true, []byte{0x28})), 1007},
			{"message too big", clientFrame(ws.OpBinary, true, make([]byte, 1025)), 1009},
			{"fragments too big", cat(clientFrame(ws.OpBinary, false, make([]byte, 600)), clientFrame(ws.OpContinuation, true, make([]byte, 600))), 1009},
			{"close one byte", clientFrame(ws.OpClose, true, []byte{3}), 1002},
			{"close code 999", closeCode(999), 1002},
			{"close code 1005 on the wire", closeCode(1005), 1002},
			{"close code 1006 on the wire", closeCode(1006), 1002},
			{"close code 2999", closeCode(2999), 1002},
			{"close code 5000", closeCode(5000), 1002},
			{"close reason not utf-8", clientFrame(ws.OpClose, true, []byte{0x03, 0xe8, 0xff}), 1007},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := dialRaw(t, ts.addr).upgrade()
				r.write(c.in)
				r.expectClose(c.code)
			})
		}
		// The bystander saw nothing of it and still works.
		bystander.sendJSON(jsonOp("pub", "b", nil, "still here"))
		expectKV(t, bystander.nextJSON(), "op", "msg", "data", "still here")
	})
}

// The close handshake echoes valid codes; an empty close is echoed empty.
func TestCloseHandshakeEcho(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		f := func(payload []byte, want []byte) {
			t.Helper()
			r := dialRaw(t, ts.addr).upgrade()
			r.send(ws.OpClose, true, payload)
			h, p := r.next()
			if h.OpCode != ws.OpClose || string(p[:min(2, len(p))]) != string(want) {
				t.Fatalf("close %x: got %v %x, want close %x", payload, h.OpCode, p, want)
			}
			r.expectEOF()
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
	eachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, opts{})
		r := dialRaw(t, ts.addr).upgrade()
		r.sendJSON(jsonOp("sub", "f", nil, nil))
		msg := `{"op":"pub","ch":"f","data":"héllo wörld"}`
		b := []byte(msg)
		// Split inside the two-byte 'é' on purpose.
		r.send(ws.OpText, false, b[:31])
		r.send(ws.OpPing, true, []byte("are you there"))
		h, p := r.next()
		if h.OpCode != ws.OpPong || string(p) != "are you there" {
			t.Fatalf("pong: %v %q", h.OpCode, p)
		}
		r.send(ws.OpContinuation, false, b[31:40])
		r.send(ws.OpContinuation, true, b[40:])
		expectKV(t, r.nextJSON(), "op", "msg", "data", "héllo wörld")

		slow := dialRaw(t, ts.addr)
		all := []byte(upgradeRequest("/ws"))
		all = append(all, clientFrame(ws.OpText, true, []byte(`{"op":"sub","ch":"s","id":7}`))...)
		for i := range all {
			slow.write(all[i : i+1])
		}
		if resp := slow.readResponse(); resp.StatusCode != 101 {
			t.Fatalf("byte-by-byte upgrade: %d", resp.StatusCode)
		}
		expectKV(t, slow.nextJSON(), "op", "ack", "id", 7)
		// Handshake and first frame in one write.
		one := dialRaw(t, ts.addr)
		one.write(all)
		if resp := one.readResponse(); resp.StatusCode != 101 {
			t.Fatalf("coalesced upgrade: %d", resp.StatusCode)
		}
		expectKV(t, one.nextJSON(), "op", "ack", "id", 7)
	})
}
