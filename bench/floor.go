package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starling-ws/starling/bench/plan"
	"github.com/starling-ws/starling/bench/procstat"
)

// The floor: the same sockets with no WebSocket server on them. One process
// accepts with blocking accept(2) (no epoll, no per-connection state but the
// descriptor) and, when told, writes Size bytes to every socket in a plain
// loop. What the kernel charges for that is the floor Starling is compared
// with.

// floorServerMain is the hidden `starling bench floor-server` role.
func floorServerMain(in io.Reader, out io.Writer) int {
	procstat.RaiseNoFile()
	enc := json.NewEncoder(out)
	lfd, addr, err := rawListen()
	if err != nil {
		_ = enc.Encode(Event{Ev: "err", Err: "floor-server: " + err.Error()})
		return 1
	}
	var (
		mu       sync.Mutex
		fds      []int
		accepted atomic.Int64
		sent     atomic.Int64
		sendErr  atomic.Int64
		sendNs   atomic.Int64 // thread CPU ns spent in the send loop
		done     atomic.Bool
	)
	go func() {
		for {
			fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != nil {
				return
			}
			mu.Lock()
			fds = append(fds, fd)
			mu.Unlock()
			accepted.Add(1)
		}
	}()
	_ = enc.Encode(Event{Ev: "ready", Addr: addr})
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var c Cmd
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			_ = enc.Encode(Event{Ev: "err", Err: err.Error()})
			continue
		}
		switch c.Op {
		case "exit":
			_ = enc.Encode(Event{Ev: "ok"})
			return 0
		case "stats":
			_ = enc.Encode(Event{Ev: "stats", Stats: &WStats{PID: os.Getpid(), Accepted: accepted.Load(), Sent: sent.Load(),
				SendErr: sendErr.Load(), SendSecs: float64(sendNs.Load()) / 1e9, PubDone: done.Load()}})
		case "send":
			mu.Lock()
			targets := append([]int(nil), fds...)
			mu.Unlock()
			done.Store(false)
			go func() {
				// One locked thread so RUSAGE_THREAD is the loop's own CPU.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				buf := make([]byte, max(c.Size, 1))
				for i := range buf {
					buf[i] = 'x'
				}
				t0 := threadCPU()
				for r := 0; r < c.Count; r++ {
					for _, fd := range targets {
						if _, err := unix.Write(fd, buf); err != nil {
							sendErr.Add(1)
							continue
						}
						sent.Add(1)
					}
				}
				sendNs.Add(int64(threadCPU() - t0))
				done.Store(true)
			}()
			_ = enc.Encode(Event{Ev: "ok"})
		default:
			_ = enc.Encode(Event{Ev: "err", Err: "floor-server: unknown op " + c.Op})
		}
	}
	return 0
}

func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawListen opens a blocking listening socket on 127.0.0.1 with a free port.
func rawListen() (int, string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	return fd, fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port), nil
}

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
	srv, err := StartProc(ctx, "floor-server", 0)
	if err != nil {
		return nil, nil, err
	}
	defer srv.Stop()
	smp := &Sampler{PID: srv.PID()}
	base, err := smp.Take()
	if err != nil {
		return nil, nil, err
	}
	fl, err := StartFleet(ctx, o.N, o.PerWorker)
	if err != nil {
		return nil, nil, err
	}
	defer fl.Stop()
	res := newResult("floor", o.N)
	t0 := time.Now()
	if _, err := dialFleet(ctx, fl, srv.first.Addr, "", o.N, o.Rate, Cmd{Raw: true}, prog); err != nil {
		return nil, nil, err
	}
	res.addf("connect", "%d raw connections in %v", o.N, time.Since(t0).Round(time.Millisecond))
	// Wait until the server accepted them all (its accept queue may lag).
	for ctx.Err() == nil {
		ev, err := srv.Call(ctx, Cmd{Op: "stats"})
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
	if _, err := srv.Call(ctx, Cmd{Op: "send", Count: o.Rounds, Size: o.Size}); err != nil {
		return nil, nil, err
	}
	want := before.Bytes + int64(o.Rounds)*int64(o.N)*int64(o.Size)
	var st WStats
	for {
		st, err = fl.Stats(ctx)
		if err != nil {
			return nil, nil, err
		}
		ev, err := srv.Call(ctx, Cmd{Op: "stats"})
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
