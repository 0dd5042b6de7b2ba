package shard

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// deflatePayload stands for a payload whose compressed frames are worth it
// only when big is set: for a Compressed class it returns nil otherwise
// (see Payload), and it counts builds per class.
type deflatePayload struct {
	big    bool
	builds [NClass]atomic.Int32
}

func (p *deflatePayload) Frame(cls Class, _ string, _ uint64) []byte {
	p.builds[cls].Add(1)
	if cls&Compressed != 0 && !p.big {
		return nil
	}
	return []byte{'F', byte(cls)}
}
func (p *deflatePayload) Size() int { return 2 }

// A Compressed class whose Frame declines gets the plain class's frame:
// built once and shared, never a second copy, counted once in the
// history's bytes; one that compresses gets its own. Classes without
// subscribers build nothing.
func TestCompressedClassFallsBackToPlain(t *testing.T) {
	h := histHub(t, HistoryConfig{Size: 8, TTL: 600, Memory: 1 << 20}, nil)
	var readers [NClass]io.Reader
	for _, cls := range []Class{0, Compressed, 1 | Compressed} {
		c, r := sockConn(t, 0, false)
		subT(t, h, add(h, c, 0), "ch", cls)
		readers[cls] = r
	}
	h.Flush()
	for _, big := range []bool{false, true} {
		p := &deflatePayload{big: big}
		before := h.Stats().HistoryBytes
		if _, err := h.Publish([]byte("ch"), p); err != nil {
			t.Fatal(err)
		}
		h.Flush()
		// Small: both compressed classes take their plain class's frame
		// (class 1 is built for its compressed subscribers alone).
		want := [NClass]string{0: "F\x00", Compressed: "F\x00", 1 | Compressed: "F\x01"}
		if big {
			want[Compressed], want[1|Compressed] = "F\x02", "F\x03"
		}
		for _, cls := range []Class{0, Compressed, 1 | Compressed} {
			got := make([]byte, 2)
			readers[cls].(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(readers[cls], got); err != nil {
				t.Fatalf("big=%v class %d: %v", big, cls, err)
			}
			if !bytes.Equal(got, []byte(want[cls])) {
				t.Fatalf("big=%v class %d got %q, want %q", big, cls, got, want[cls])
			}
		}
		for cls := range NClass {
			wantBuilds := int32(1)
			if cls == 1 && big { // no plain MessagePack subscriber, and class 3 compressed
				wantBuilds = 0
			}
			if n := p.builds[cls].Load(); n != wantBuilds {
				t.Fatalf("big=%v class %d built %d times, want %d", big, cls, n, wantBuilds)
			}
		}
		frames := int64(4) // F0 and F1, each shared with its compressed class
		if big {
			frames = 6 // F0, F2 and F3
		}
		if got := h.Stats().HistoryBytes - before; got != TaskOverhead+2+frames {
			t.Fatalf("big=%v: history charged %d, want %d (a shared frame counted once)", big, got, TaskOverhead+2+frames)
		}
	}
}
