package shard

import "testing"

// TestAdmit: the bound PublishAt cannot apply is asked for with Admit. It
// answers ErrBusy while a shard holding members of the channel is over
// QueueBytes (behind a worker that is not running yet), nil for a channel
// without members here, and nil again once the worker drained the queue.
func TestAdmit(t *testing.T) {
	h, err := New(Config{Shards: 1, Clock: NewClock(), QueueBytes: 3 * seqLen,
		History: HistoryConfig{Size: 8, TTL: 60, Memory: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	l := add(h, nullConn(), 0)
	subT(t, h, l, "x", 0)
	if err := h.Admit([]byte("x"), seqLen); err != nil {
		t.Fatalf("empty queue: %v", err)
	}
	for off := uint64(1); off <= 3; off++ {
		if ok, err := h.PublishAt([]byte("x"), off*10, (off-1)*10, 5, seqPayload{}); !ok || err != nil {
			t.Fatalf("PublishAt %d: %v %v", off, ok, err)
		}
	}
	if err := h.Admit([]byte("x"), seqLen); err != ErrBusy {
		t.Fatalf("3 queued of a 3-publish bound: %v, want ErrBusy", err)
	}
	// PublishAt itself still takes it (the bus sequenced it already).
	if ok, err := h.PublishAt([]byte("x"), 40, 30, 5, seqPayload{}); !ok || err != nil {
		t.Fatalf("PublishAt over the bound: %v %v", ok, err)
	}
	if err := h.Admit([]byte("y"), seqLen); err != nil {
		t.Errorf("a channel without members: %v", err)
	}
	h.Start()
	h.Flush()
	if err := h.Admit([]byte("x"), seqLen); err != nil {
		t.Errorf("after the worker drained the queue: %v", err)
	}
	h.Stop()
	if err := h.Admit([]byte("x"), seqLen); err != ErrStopped {
		t.Errorf("stopped: %v, want ErrStopped", err)
	}
}
