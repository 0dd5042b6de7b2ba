//go:build linux

package poller

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// counter is a minimal Handler for rate benchmarks.
type counter struct{ opens, closes atomic.Int64 }

func (h *counter) OnOpen(*Conn)         { h.opens.Add(1) }
func (h *counter) OnData(*Conn, []byte) {}
func (h *counter) OnClose(*Conn, error) { h.closes.Add(1) }

// BenchmarkAccept measures handshake-free accepts per second over loopback
// for both accept modes: a client connects in batches of 500 (blocking
// connect on raw sockets), waits until the engine has called OnOpen for
// each, then resets them (SO_LINGER 0, so no TIME_WAIT piles up).
func BenchmarkAccept(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) { benchAccept(b, m.mode) })
	}
}

func benchAccept(b *testing.B, mode acceptMode) {
	h := &counter{}
	e := startEpoll(b, mode, Config{}, h)
	sa, fam, err := resolveSockaddr(e.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	const batch = 500
	fds := make([]int, 0, batch)
	linger := unix.Linger{Onoff: 1, Linger: 0}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for i := 0; i < k; i++ {
			fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.Connect(fd, sa); err != nil {
				b.Fatal(err)
			}
			fds = append(fds, fd)
		}
		done += k
		end := time.Now().Add(10 * time.Second)
		for h.opens.Load() < int64(done) {
			if time.Now().After(end) {
				b.Fatalf("%d of %d accepted", h.opens.Load(), done)
			}
			runtime.Gosched()
		}
		for _, fd := range fds {
			_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &linger)
			unix.Close(fd)
		}
		fds = fds[:0]
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
	Sink = e.Stats()
}

// BenchmarkEpollEcho: 64 connections each keep one 64-byte message in
// flight through an echo engine (client: one goroutine per connection
// blocked in read on a raw socket), with and without LockOSThread on the
// loops.
func BenchmarkEpollEcho(b *testing.B) {
	for _, locked := range []bool{false, true} {
		name := "unlocked"
		if locked {
			name = "locked"
		}
		b.Run(name, func(b *testing.B) {
			e, err := NewEpoll(Config{Addr: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			e.lockThread = locked
			if err := e.Serve(&echoCounter{}); err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			const conns = 64
			fds := dialRaw(b, e.Addr().String(), conns)
			per := b.N/conns + 1
			msg := make([]byte, 64)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			done := make(chan error, conns)
			for _, fd := range fds {
				go func(fd int) {
					buf := make([]byte, 64)
					for i := 0; i < per; i++ {
						if _, err := unix.Write(fd, msg); err != nil {
							done <- err
							return
						}
						for got := 0; got < len(msg); {
							k, err := unix.Read(fd, buf[got:])
							if k <= 0 {
								done <- err
								return
							}
							got += k
						}
					}
					done <- nil
				}(fd)
			}
			for range fds {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			Sink = e.Stats()
		})
	}
}
