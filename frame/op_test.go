package frame

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// rawMP is a msgpack value spliced as is by mpMap.
type rawMP []byte

// mpMap builds a msgpack map with keys in the given order.
func mpMap(kv ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.EncodeMapLen(len(kv) / 2); err != nil {
		panic(err)
	}
	for i := 0; i < len(kv); i += 2 {
		for _, v := range kv[i : i+2] {
			if r, ok := v.(rawMP); ok {
				buf.Write(r)
			} else if err := enc.Encode(v); err != nil {
				panic(err)
			}
		}
	}
	return buf.Bytes()
}

func mpVal(v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func TestDecodeOpJSON(t *testing.T) {
	f := func(in string, kind OpKind, id, ch, data string, code int, errID string) {
		t.Helper()
		var op Op
		e := DecodeOp([]byte(in), JSON, &op)
		if code != 0 {
			if e == nil || e.Code != code || string(e.ID) != errID {
				t.Errorf("%s: got %+v, want code %d id %q", in, e, code, errID)
			}
			return
		}
		if e != nil {
			t.Errorf("%s: unexpected error %+v", in, e)
			return
		}
		if op.Kind != kind || op.Enc != JSON || string(op.ID) != id || string(op.Ch) != ch || string(op.Data) != data || op.HasData != (data != "") {
			t.Errorf("%s: got %+v (id %q ch %q data %q)", in, op, op.ID, op.Ch, op.Data)
		}
	}
	f(`{"op":"sub","ch":"news"}`, OpSub, "", "news", "", 0, "")
	f(` { "op" : "unsub" , "ch" : "a.b:c@d/e=f-g_0" } `, OpUnsub, "", "a.b:c@d/e=f-g_0", "", 0, "")
	f(`{"op":"pub","ch":"x","data":{"a":[1,2,{"b":"}"}]},"id":7}`, OpPub, "7", "x", `{"a":[1,2,{"b":"}"}]}`, 0, "")
	f(`{"id":"r-1","op":"pub","ch":"x","data":"s"}`, OpPub, `"r-1"`, "x", `"s"`, 0, "")
	f(`{"op":"pub","ch":"x","data":""}`, OpPub, "", "x", `""`, 0, "")
	f(`{"op":"pub","ch":"x","data":null,"id":null}`, OpPub, "null", "x", "null", 0, "")
	f(`{"op":"pub","ch":"x","data":-1.5e3,"id":true}`, OpPub, "true", "x", "-1.5e3", 0, "")
	f(`{"op":"sub","ch":"x","extra":{"deep":[[[]]]},"n":1}`, OpSub, "", "x", "", 0, "")
	f(`{"op":"sub","ch":"\u0061b"}`, OpSub, "", "ab", "", 0, "")
	f(`{"o\u0070":"s\u0075b","ch":"x"}`, OpSub, "", "x", "", 0, "")
	f(`{"op":"sub","ch":"a","ch":"b"}`, OpSub, "", "b", "", 0, "")

	f(`[1]`, 0, "", "", "", 400, "")
	f(`"op"`, 0, "", "", "", 400, "")
	f(``, 0, "", "", "", 400, "")
	f(`{`, 0, "", "", "", 400, "")
	f(`{"op":"sub","ch":"x"`, 0, "", "", "", 400, "")
	f(`{"op":"sub","ch":"x",}`, 0, "", "", "", 400, "")
	f(`{"op":"sub" "ch":"x"}`, 0, "", "", "", 400, "")
	f(`{"op":"sub","ch":"x"} x`, 0, "", "", "", 400, "")
	f(`{"op":"sub","ch":"x"}{}`, 0, "", "", "", 400, "")
	f(`{"id":5,"op":"sub","ch":"x"} x`, 0, "", "", "", 400, "5")
	f(`{"id":5,"op":"pub","ch":"x","data":tru}`, 0, "", "", "", 400, "5")
	f(`{"id":5,"op":"pub","ch":"x","data":[1,}`, 0, "", "", "", 400, "5")
	f(`{"id":5,"op":"pub","ch":"x","data":01}`, 0, "", "", "", 400, "5")
	f(`{"id":5,"op":"pub","ch":"x","data":"a`+"\x01"+`"}`, 0, "", "", "", 400, "5")
	f(`{"id":5,"op":"pub","ch":"x","data":"\q"}`, 0, "", "", "", 400, "5")
	f(`{"id":{"a":1},"op":"sub","ch":"x"}`, 0, "", "", "", 400, "")
	f(`{"id":1,"ch":"x"}`, 0, "", "", "", 400, "1")
	f(`{"id":1,"op":5,"ch":"x"}`, 0, "", "", "", 400, "1")
	f(`{"id":1,"op":"subscribe","ch":"x"}`, 0, "", "", "", 404, "1")
	f(`{"id":1,"op":"sub"}`, 0, "", "", "", 400, "1")
	f(`{"id":1,"op":"sub","ch":7}`, 0, "", "", "", 400, "1")
	f(`{"id":1,"op":"sub","ch":""}`, 0, "", "", "", 422, "1")
	f(`{"id":1,"op":"sub","ch":"a b"}`, 0, "", "", "", 422, "1")
	f(`{"id":1,"op":"sub","ch":"`+strings.Repeat("a", 129)+`"}`, 0, "", "", "", 422, "1")
	f(`{"id":1,"op":"sub","ch":"é"}`, 0, "", "", "", 422, "1")
	f(`{"id":1,"op":"pub","ch":"x"}`, 0, "", "", "", 400, "1")
}

func TestDecodeOpMsgPack(t *testing.T) {
	f := func(name string, in []byte, kind OpKind, id, ch, data []byte, code int, errID []byte) {
		t.Helper()
		var op Op
		e := DecodeOp(in, MsgPack, &op)
		if code != 0 {
			if e == nil || e.Code != code || !bytes.Equal(e.ID, errID) {
				t.Errorf("%s (%x): got %+v, want code %d id %x", name, in, e, code, errID)
			}
			return
		}
		if e != nil {
			t.Errorf("%s (%x): unexpected error %+v", name, in, e)
			return
		}
		if op.Kind != kind || op.Enc != MsgPack || !bytes.Equal(op.ID, id) || string(op.Ch) != string(ch) ||
			!bytes.Equal(op.Data, data) || op.HasData != (data != nil) {
			t.Errorf("%s: got %+v", name, op)
		}
	}
	bin := mpVal([]byte{1, 2, 3})
	emptyBin := mpVal([]byte{})
	nested := mpVal(map[string]any{"a": []any{1, "x", map[string]any{"b": nil}}})
	f("sub", mpMap("op", "sub", "ch", "news"), OpSub, nil, []byte("news"), nil, 0, nil)
	f("unsub", mpMap("ch", "n", "op", "unsub"), OpUnsub, nil, []byte("n"), nil, 0, nil)
	f("pub bin", mpMap("op", "pub", "ch", "x", "data", rawMP(bin), "id", 9), OpPub, mpVal(9), []byte("x"), bin, 0, nil)
	f("pub empty bin", mpMap("op", "pub", "ch", "x", "data", rawMP(emptyBin)), OpPub, nil, []byte("x"), emptyBin, 0, nil)
	f("pub nested", mpMap("id", "r1", "op", "pub", "ch", "x", "data", rawMP(nested)), OpPub, mpVal("r1"), []byte("x"), nested, 0, nil)
	f("pub ext data", mpMap("op", "pub", "ch", "x", "data", rawMP{0xd4, 1, 2}), OpPub, nil, []byte("x"), []byte{0xd4, 1, 2}, 0, nil)
	f("unknown and int keys", mpMap(1, 2, "zz", []int{1}, "op", "sub", "ch", "x"), OpSub, nil, []byte("x"), nil, 0, nil)
	f("long ch str8", mpMap("op", "sub", "ch", strings.Repeat("c", 100)), OpSub, nil, []byte(strings.Repeat("c", 100)), nil, 0, nil)
	f("map16 header", append([]byte{0xde, 0, 2}, mpMap("op", "sub", "ch", "x")[1:]...), OpSub, nil, []byte("x"), nil, 0, nil)

	f("array", mpVal([]int{1}), 0, nil, nil, nil, 400, nil)
	f("empty", nil, 0, nil, nil, nil, 400, nil)
	f("never used c1", []byte{0xc1}, 0, nil, nil, nil, 400, nil)
	f("truncated", mpMap("op", "sub", "ch", "x")[:8], 0, nil, nil, nil, 400, nil)
	f("trailing", append(mpMap("id", 1, "op", "sub", "ch", "x"), 0), 0, nil, nil, nil, 400, mpVal(1))
	f("map count too big", append([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, mpMap("op", "sub")[1:]...), 0, nil, nil, nil, 400, nil)
	f("bad data value", mpMap("id", 2, "op", "pub", "ch", "x", "data", rawMP{0xc1}), 0, nil, nil, nil, 400, mpVal(2))
	f("truncated data", mpMap("id", 2, "op", "pub", "ch", "x", "data", rawMP{0xc4, 5, 1}), 0, nil, nil, nil, 400, mpVal(2))
	f("id not scalar", mpMap("id", []int{1}, "op", "sub", "ch", "x"), 0, nil, nil, nil, 400, nil)
	f("op missing", mpMap("id", 3, "ch", "x"), 0, nil, nil, nil, 400, mpVal(3))
	f("op bin", mpMap("id", 3, "op", []byte("sub"), "ch", "x"), 0, nil, nil, nil, 400, mpVal(3))
	f("op unknown", mpMap("id", 3, "op", "nope", "ch", "x"), 0, nil, nil, nil, 404, mpVal(3))
	f("ch missing", mpMap("id", 3, "op", "sub"), 0, nil, nil, nil, 400, mpVal(3))
	f("ch int", mpMap("id", 3, "op", "sub", "ch", 5), 0, nil, nil, nil, 400, mpVal(3))
	f("ch invalid", mpMap("id", 3, "op", "sub", "ch", "a\x00"), 0, nil, nil, nil, 422, mpVal(3))
	f("pub no data", mpMap("id", 3, "op", "pub", "ch", "x"), 0, nil, nil, nil, 400, mpVal(3))
}

// mpSkip agrees with vmihailenco/msgpack's Skip on valid values of every
// type.
func TestMPSkipMatchesLibrary(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, -1, -33, 127, 128, 255, 256, -129, 65535, 65536, -40000, 1 << 40, -(1 << 40), uint64(1 << 63),
		float32(1.5), 2.5, "", "abc", strings.Repeat("s", 40), strings.Repeat("s", 300), strings.Repeat("s", 70000),
		[]byte{}, []byte{1}, bytes.Repeat([]byte{2}, 300), bytes.Repeat([]byte{3}, 70000),
		[]any{}, []any{1, "a", []any{nil}}, make([]any, 20), make([]any, 70000),
		map[string]any{}, map[string]any{"a": 1, "b": map[string]any{"c": []any{}}},
	}
	exts := [][]byte{{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...), {0xc7, 2, 5, 0, 0}, {0xc8, 0, 1, 5, 0}, {0xc9, 0, 0, 0, 1, 5, 0}}
	var all [][]byte
	for _, v := range values {
		all = append(all, mpVal(v))
	}
	all = append(all, exts...)
	for _, b := range all {
		dec := msgpack.NewDecoder(bytes.NewReader(b))
		if err := dec.Skip(); err != nil {
			t.Fatalf("library cannot skip %x: %v", b[:min(len(b), 16)], err)
		}
		if got := mpSkip(b, 0); got != len(b) {
			t.Fatalf("mpSkip(%x...) = %d, want %d", b[:min(len(b), 16)], got, len(b))
		}
		for cut := range min(len(b), 40) {
			if got := mpSkip(b[:cut], 0); got != -1 {
				t.Fatalf("mpSkip of truncated %x = %d, want -1", b[:cut], got)
			}
		}
	}
}

func TestValidChannel(t *testing.T) {
	for _, ok := range []string{"a", "A-z_0.9:@/=-", strings.Repeat("x", 128)} {
		if !ValidChannel([]byte(ok)) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 129), "a b", "a\x00", "é", "a#", "a\"", "a*"} {
		if ValidChannel([]byte(bad)) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Issue 14 item 9: an ext value (a timestamp, say) was accepted as an id,
// though docs/protocol.md lists scalars only.
func TestDecodeOpExtID(t *testing.T) {
	for _, ext := range [][]byte{
		{0xd4, 1, 1}, {0xd5, 2, 1, 2}, {0xd6, 0xff, 0, 0, 0, 1}, {0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 1},
		append([]byte{0xd8, 5}, make([]byte, 16)...), {0xc7, 1, 9, 0}, {0xc8, 0, 1, 9, 0}, {0xc9, 0, 0, 0, 1, 9, 0},
	} {
		var op Op
		e := DecodeOp(mpMap("op", "sub", "ch", "x", "id", rawMP(ext)), MsgPack, &op)
		if e == nil || e.Code != CodeBadRequest || e.Msg != "id must be a scalar" {
			t.Errorf("ext id %x: got %+v", ext, e)
		}
	}
	// Scalars, bin included, stay accepted.
	for _, id := range []any{nil, true, 7, -7, 1.5, "s", []byte{1}} {
		var op Op
		if e := DecodeOp(mpMap("op", "sub", "ch", "x", "id", id), MsgPack, &op); e != nil || !bytes.Equal(op.ID, mpVal(id)) {
			t.Errorf("id %#v: %+v, id %x", id, e, op.ID)
		}
	}
}
