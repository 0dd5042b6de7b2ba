package frame

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gobwas/ws"
	"github.com/vmihailenco/msgpack/v5"
)

// decodeFrameJSONorMP parses one unmasked server frame built by this package.
func decodeFrameJSONorMP(t *testing.T, f []byte) map[string]any {
	t.Helper()
	h, err := ws.ReadHeader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	p := f[len(f)-int(h.Length):]
	var m map[string]any
	if h.OpCode == ws.OpText {
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	} else if err := msgpack.Unmarshal(p, &m); err != nil {
		t.Fatalf("%x: %v", p, err)
	}
	return m
}

func TestPositionAcks(t *testing.T) {
	for _, enc := range []Enc{JSON, MsgPack} {
		id := []byte("7")
		if enc == MsgPack {
			id = []byte{0x07}
		}
		for _, rec := range []int{NoSince, Lost, Recovered} {
			m := decodeFrameJSONorMP(t, AppendSubAck(nil, enc, id, 123456, 0xdeadbeef, rec))
			if m["op"] != "ack" || toU(m["id"]) != 7 || toU(m["off"]) != 123456 || m["epoch"] != "1ps9wxb" {
				t.Fatalf("enc %d rec %d: %v", enc, rec, m)
			}
			if got, ok := m["recovered"]; ok != (rec != NoSince) || (ok && got != (rec == Recovered)) {
				t.Fatalf("enc %d rec %d: recovered %v %v", enc, rec, got, ok)
			}
			if ParseEpoch([]byte(m["epoch"].(string))) != 0xdeadbeef {
				t.Fatalf("epoch %q does not parse back", m["epoch"])
			}
		}
		m := decodeFrameJSONorMP(t, AppendPubAck(nil, enc, nil, 9))
		if m["op"] != "ack" || toU(m["off"]) != 9 || len(m) != 2 {
			t.Fatalf("pub ack without id: %v", m)
		}
	}
	for _, bad := range []string{"", "A", "1ps9wxbb", "zzzzzzz", "-1", "1 "} {
		if e := ParseEpoch([]byte(bad)); e != 0 {
			t.Fatalf("ParseEpoch(%q) = %d, want 0", bad, e)
		}
	}
}

func toU(v any) uint64 {
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case int8:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint32:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint64:
		return x
	}
	return 1<<64 - 1
}
