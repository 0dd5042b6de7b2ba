package cluster

import (
	"context"
	"testing"

	"github.com/starling-ws/starling/frame"
)

// TestWaitDelivered: Delivered reaches a publication's offset once this
// node's Sink has it; WaitDelivered returns true then, false for another
// epoch, and false when its context ends first.
func TestWaitDelivered(t *testing.T) {
	ns := startNATS(t)
	a := newNode(t, testCfg(ns.url()))
	a.waitReady(t)
	offs := publishAll(t, a.bus, "w", []string{`"1"`, `"2"`, `"3"`}, []frame.Enc{frame.JSON})
	last := offs[2]
	ep := a.bus.Epoch()
	if !a.bus.WaitDelivered(t.Context(), ep, last) {
		t.Fatalf("WaitDelivered(%d): false, Delivered %d", last, a.bus.Delivered())
	}
	if got := len(a.recs("w")); got != 3 {
		t.Fatalf("Delivered %d >= %d but the sink has %d of 3", a.bus.Delivered(), last, got)
	}
	if a.bus.WaitDelivered(t.Context(), ep+1, 1) {
		t.Error("WaitDelivered under another epoch: true")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if a.bus.WaitDelivered(ctx, ep, last+1000) {
		t.Error("WaitDelivered beyond the stream with a cancelled context: true")
	}
}

// TestStored: a publication still stored is found at its offset; another
// channel's offset, or one past the stream, is not.
func TestStored(t *testing.T) {
	ns := startNATS(t)
	a := newNode(t, testCfg(ns.url()))
	a.waitReady(t)
	offs := publishAll(t, a.bus, "s1", []string{`"x"`}, []frame.Enc{frame.JSON})
	other := publishAll(t, a.bus, "s2", []string{`"y"`}, []frame.Enc{frame.JSON})
	p, ok, err := a.bus.Stored(t.Context(), []byte("s1"), offs[0])
	if err != nil || !ok || p.Off != offs[0] || string(p.Data) != `"x"` || p.Enc != frame.JSON {
		t.Fatalf("Stored(s1, %d): %+v %v %v", offs[0], p, ok, err)
	}
	if _, ok, err := a.bus.Stored(t.Context(), []byte("s1"), other[0]); ok || err != nil {
		t.Fatalf("Stored(s1, s2's offset %d): %v %v", other[0], ok, err)
	}
	if _, ok, err := a.bus.Stored(t.Context(), []byte("s1"), other[0]+100); ok || err != nil {
		t.Fatalf("Stored past the stream: %v %v", ok, err)
	}
}
