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
