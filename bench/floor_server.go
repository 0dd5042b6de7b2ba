package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
)

// The floor: the same sockets with no WebSocket server on them. One process
// accepts with blocking accept(2) (no epoll, no per-connection state but the
// descriptor) and, when told, writes Size bytes to every socket in a plain
// loop. What the kernel charges for that is the floor Starling is compared
// with.

// floorServerMain is the hidden `starling bench floor-server` role: the
// accepting side of the floor, driven over the worker protocol.
func floorServerMain(in io.Reader, out io.Writer) int {
	procstat.RaiseNoFile()
	lfd, addr, err := rawListen()
	if err != nil {
		return worker.Fail(out, fmt.Errorf("floor-server: %w", err))
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
	return worker.Serve(in, out, worker.Event{Ev: "ready", Addr: addr}, func(c *worker.Cmd) worker.Event {
		switch c.Op {
		case "stats":
			return worker.Event{Ev: "stats", Stats: &worker.WStats{PID: os.Getpid(), Accepted: accepted.Load(), Sent: sent.Load(),
				SendErr: sendErr.Load(), SendSecs: float64(sendNs.Load()) / 1e9, PubDone: done.Load()}}
		case "send":
			mu.Lock()
			targets := append([]int(nil), fds...)
			mu.Unlock()
			done.Store(false)
			count, size := c.Count, c.Size
			go func() {
				// One locked thread so RUSAGE_THREAD is the loop's own CPU.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				buf := make([]byte, max(size, 1))
				for i := range buf {
					buf[i] = 'x'
				}
				t0 := threadCPU()
				for r := 0; r < count; r++ {
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
			return worker.Event{Ev: "ok"}
		}
		return worker.Event{Ev: "err", Err: "floor-server: unknown op " + c.Op}
	})
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
