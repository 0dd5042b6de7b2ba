package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/worker"
)

// The floor: N sockets accepted by floor_server.go, a process with no
// WebSocket server, and written to in a plain loop; what the kernel
// charges for that is what Starling's figures are compared with.

// FloorOpts configure a floor run.
type FloorOpts struct {
	N, Rounds, Size, PerWorker int
	Rate                       float64
	Timeout                    time.Duration
}

// RunFloor measures the kernel's cost per socket and per send.
func RunFloor(ctx context.Context, o FloorOpts, prog *Progress) (*plan.FloorFigures, *Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	srv, err := worker.StartProc(ctx, "floor-server", 0)
	if err != nil {
		return nil, nil, err
	}
	defer srv.Stop()
	smp := &Sampler{PID: srv.PID()}
	base, err := smp.Take()
	if err != nil {
		return nil, nil, err
	}
	fl, err := worker.StartFleet(ctx, o.N, o.PerWorker)
	if err != nil {
		return nil, nil, err
	}
	defer fl.Stop()
	res := newResult("floor", o.N)
	t0 := time.Now()
	if _, err := dialFleet(ctx, fl, srv.Ready().Addr, "", o.N, o.Rate, worker.Cmd{Raw: true}, prog); err != nil {
		return nil, nil, err
	}
	res.addf("connect", "%d raw connections in %v", o.N, time.Since(t0).Round(time.Millisecond))
	// Wait until the server accepted them all (its accept queue may lag).
	for ctx.Err() == nil {
		ev, err := srv.Call(ctx, worker.Cmd{Op: "stats"})
		if err != nil {
			return nil, nil, err
		}
		if ev.Stats.Accepted >= int64(o.N) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	held, err := smp.Take()
	if err != nil {
		return nil, nil, err
	}
	ff := &plan.FloorFigures{Date: nowDate(), N: o.N, SendBytes: o.Size}
	ff.KernelBytesPerConn = float64(kernelDelta(base, held)) / float64(2*o.N)
	ff.ProcBytesPerConn = float64(held.RSS-base.RSS) / float64(o.N)
	before, _ := fl.Stats(ctx)
	if _, err := srv.Call(ctx, worker.Cmd{Op: "send", Count: o.Rounds, Size: o.Size}); err != nil {
		return nil, nil, err
	}
	want := before.Bytes + int64(o.Rounds)*int64(o.N)*int64(o.Size)
	var st worker.WStats
	for {
		st, err = fl.Stats(ctx)
		if err != nil {
			return nil, nil, err
		}
		ev, err := srv.Call(ctx, worker.Cmd{Op: "stats"})
		if err != nil {
			return nil, nil, err
		}
		if ev.Stats.PubDone && st.Bytes >= want {
			ff.Sends = ev.Stats.Sent
			if ev.Stats.Sent > 0 {
				ff.SendCPUMicros = ev.Stats.SendSecs * 1e6 / float64(ev.Stats.Sent)
			}
			break
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("floor: timed out with %d of %d bytes received", st.Bytes-before.Bytes, want-before.Bytes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Floor = ff
	res.Samples = []Sample{base, held}
	res.addf("kernel per connection", "%s (Δ socket slab caches %s, Δ all slab %s, Δ tcp mem %s; over 2N sockets)", plan.FmtBytes(ff.KernelBytesPerConn),
		plan.FmtBytes(float64(held.SockSlab-base.SockSlab)), plan.FmtBytes(float64(held.Slab-base.Slab)), plan.FmtBytes(float64(held.TCPMem-base.TCPMem)))
	res.addf("accepting process per connection", "%s RSS", plan.FmtBytes(ff.ProcBytesPerConn))
	res.addf("CPU per send", "%.2f µs for %d B (%d sends, thread CPU)", ff.SendCPUMicros, o.Size, ff.Sends)
	return ff, res, nil
}
