package loadclient

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/internal/wsframe"
)

// A publish frame is one masked text frame of valid JSON whose data string
// is exactly the asked size and starts with "<seq>:<send ns>:", then words.
func TestAppendPub(t *testing.T) {
	for _, size := range []int{32, 64, 1000, 70000} {
		b := appendPub(nil, "bc0", 7, 9, size, 1234567890123)
		h, ok := wsframe.ParseHeader(b)
		if !ok || !h.Masked || !h.Fin || h.Op != ws.OpText || uint64(len(b)-h.Size) != h.Len {
			t.Fatalf("size %d: header %+v ok=%v for %d bytes", size, h, ok, len(b))
		}
		p := b[h.Size:]
		ws.Cipher(p, h.Mask, 0)
		var m struct {
			Op, Ch, Data string
			ID           int
		}
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("size %d: %v in %q", size, err, p[:min(len(p), 80)])
		}
		if m.Op != "pub" || m.Ch != "bc0" || m.ID != 9 || len(m.Data) != size || m.Data[:16] != "7:1234567890123:" {
			t.Fatalf("size %d: op %q ch %q id %d data %d bytes %q...", size, m.Op, m.Ch, m.ID, len(m.Data), m.Data[:20])
		}
		// The padding is words of the list (the last one may be cut).
		pad := strings.Fields(m.Data[16:])
		for i, w := range pad {
			if !slices.Contains(padWords, w) && (i < len(pad)-1 || !slices.ContainsFunc(padWords, func(p string) bool { return strings.HasPrefix(p, w) })) {
				t.Fatalf("size %d: padding word %d %q is not from the list", size, i, w)
			}
		}
	}
}

// A push records its latency and its publish's delivery; acks to id 1 are
// subscription acks, other acks publish acks; errors are counted; data that
// is not the bench's own counts the push but records nothing.
func TestMessageClassifies(t *testing.T) {
	cl := newClient()
	cl.last, cl.got = make([]int64, 3), make([]int32, 3)
	sent := time.Now().Add(-5 * time.Millisecond).UnixNano()
	push := func(seq int64) []byte {
		d := appendPub(nil, "x", seq, 2, 40, sent)
		h, _ := wsframe.ParseHeader(d)
		p := d[h.Size:]
		ws.Cipher(p, h.Mask, 0)
		var m map[string]any
		_ = json.Unmarshal(p, &m)
		out, _ := json.Marshal(map[string]any{"op": "msg", "ch": "x", "off": 1, "data": m["data"]})
		return out
	}
	cl.message(push(1))
	cl.message(push(1))
	cl.message([]byte(`{"op":"msg","ch":"x","off":2,"data":{"k":1}}`))
	cl.message([]byte(`{"op":"ack","id":1}`))
	cl.message([]byte(`{"op":"ack","id":1,"off":4}`))
	cl.message([]byte(`{"op":"ack","id":12}`))
	cl.message([]byte(`{"op":"err","id":3,"code":429,"msg":"limit"}`))
	st := cl.stats()
	if st.Msgs != 3 || st.Subacks != 2 || st.Pubacks != 1 || st.ErrReplies != 1 {
		t.Fatalf("msgs %d subacks %d pubacks %d errs %d", st.Msgs, st.Subacks, st.Pubacks, st.ErrReplies)
	}
	if cl.hist.TotalCount() != 2 || cl.hist.Min() < 4000 || cl.got[1] != 2 || cl.got[0] != 0 || cl.last[1] < int64(5*time.Millisecond) {
		t.Fatalf("histogram %d values, min %d µs; got %v; last %v", cl.hist.TotalCount(), cl.hist.Min(), cl.got, cl.last)
	}
}
