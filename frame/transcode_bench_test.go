package frame

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

// benchPayload is an array of small records, the same value in both
// encodings (keys in the same order), about size bytes of MessagePack.
func benchPayload(size int) (mp, js []byte) {
	var items [][]byte
	var jitems []string
	for i, n := 0, 3; n < size; i++ {
		note := fmt.Sprintf("order %d \"héllo\"\n", i)
		m := mpMap("id", i, "sym", "BTC-USD", "px", 101.25+float64(i), "qty", i%7, "side", "buy", "note", note, "ok", i%2 == 0, "tags", []any{"a", "b"})
		j := fmt.Sprintf(`{"id":%d,"sym":"BTC-USD","px":%v,"qty":%d,"side":"buy","note":%q,"ok":%v,"tags":["a","b"]}`,
			i, 101.25+float64(i), i%7, note, i%2 == 0)
		items = append(items, m)
		jitems = append(jitems, j)
		n += len(m)
	}
	mp = binary.BigEndian.AppendUint16([]byte{0xdc}, uint16(len(items)))
	mp = append(mp, bytes.Join(items, nil)...)
	return mp, []byte("[" + strings.Join(jitems, ",") + "]")
}

// emptyMaps is the attacker's payload (issue 14 item 8): an array of n
// empty maps.
func emptyMaps(n int) (mp, js []byte) {
	mp = binary.BigEndian.AppendUint16([]byte{0xdc}, uint16(n))
	mp = append(mp, bytes.Repeat([]byte{0x80}, n)...)
	js = append([]byte("["), bytes.Repeat([]byte("{},"), n)...)
	js[len(js)-1] = ']'
	return mp, js
}

type transcodeCase struct {
	name   string
	mp, js []byte
}

// transcodeCases: 1 KiB and 64 KiB of records, and 64 KiB of empty maps
// (65,000 in MessagePack; 21,845 in JSON, which spends 3 bytes on each).
func transcodeCases() []transcodeCase {
	mp1, js1 := benchPayload(1 << 10)
	mp64, js64 := benchPayload(64 << 10)
	mpE, _ := emptyMaps(65000)
	_, jsE := emptyMaps(21845)
	return []transcodeCase{{"1KiB", mp1, js1}, {"64KiB", mp64, js64}, {"64KiB-empty-maps", mpE, jsE}}
}

// The payloads are the same value in both encodings.
func TestTranscodePayloads(t *testing.T) {
	for _, c := range transcodeCases()[:2] {
		js, err := AppendTranscoded(nil, c.mp, MsgPack, math.MaxInt)
		if err != nil || !sameMPJSON(t, c.mp, c.js) || !sameMPJSON(t, c.mp, js) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	mp, js := emptyMaps(65000)
	out, err := AppendTranscoded(nil, mp, MsgPack, math.MaxInt)
	if err != nil || !bytes.Equal(out, js) {
		t.Fatalf("empty maps: %v", err)
	}
}

// BenchmarkTranscode converts each payload; "count" is TranscodedLen, the
// validation and sizing a publish runs first. The generic conversion
// this replaced (vmihailenco/msgpack and encoding/json through interface
// values) is recorded in the commit that removed it.
func BenchmarkTranscode(b *testing.B) {
	for _, c := range transcodeCases() {
		for _, d := range []struct {
			name string
			src  []byte
			from Enc
		}{{"msgpack-to-json", c.mp, MsgPack}, {"json-to-msgpack", c.js, JSON}} {
			size, err := TranscodedLen(d.src, d.from, math.MaxInt)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, size)
			b.Run(d.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(d.src)))
				for b.Loop() {
					out, err := AppendTranscoded(dst[:0], d.src, d.from, math.MaxInt)
					if err != nil {
						b.Fatal(err)
					}
					Sink = len(out)
				}
			})
			b.Run(d.name+"/"+c.name+"/count", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(d.src)))
				for b.Loop() {
					n, err := TranscodedLen(d.src, d.from, math.MaxInt)
					if err != nil {
						b.Fatal(err)
					}
					Sink = n
				}
			})
		}
	}
}
