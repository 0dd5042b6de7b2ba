//go:build linux

package poller

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStopAcceptingOutOfDescriptors (issue 14, item 5): with the process's
// descriptors exhausted by held connections and more connections waiting
// in the accept queue, StopAccepting and then Close must return promptly on
// every engine and accept mode. accept(2) on a shut-down listener keeps
// failing with EMFILE rather than EINVAL, so an engine that waits for EINVAL
// hangs. The server runs in a child process (this test binary again) with a
// low RLIMIT_NOFILE so the test's own process keeps its descriptors.
func TestStopAcceptingOutOfDescriptors(t *testing.T) {
	for _, mode := range []string{"epoll-reuseport", "epoll-acceptor", "netpoll"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestEmfileChildProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "STARLING_EMFILE_CHILD="+mode)
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			addr := ""
			var out strings.Builder
			for addr == "" && lines.Scan() {
				out.WriteString(lines.Text() + "\n")
				if a, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
					addr = a
				}
			}
			if addr == "" {
				cmd.Wait()
				t.Fatalf("child gave no address: %s", out.String())
			}
			// Far more connections than the child has descriptors: the
			// kernel completes them into the accept queue anyway. Once the
			// child has stopped, connects fail: that is expected.
			held := holdConns(t, addr, 200)
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
			}
			werr := cmd.Wait()
			t.Logf("%d connections made; child: %s", held, strings.TrimSpace(out.String()))
			if werr != nil || !strings.Contains(out.String(), "\nok ") {
				t.Fatalf("child failed (%v): %s", werr, out.String())
			}
		})
	}
}

// holdConns connects up to n raw sockets to addr, stopping at the first
// failure; they close at cleanup. It returns how many it made.
func holdConns(t *testing.T, addr string, n int) int {
	sa, fam, err := resolveSockaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for len(fds) < n {
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			break
		}
		fds = append(fds, fd)
	}
	return len(fds)
}

// TestEmfileChildProcess is the server side of
// TestStopAcceptingOutOfDescriptors, run only in the child process.
func TestEmfileChildProcess(t *testing.T) {
	mode := os.Getenv("STARLING_EMFILE_CHILD")
	if mode == "" {
		t.Skip("child process of TestStopAcceptingOutOfDescriptors")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("FAIL "+format+"\n", args...)
		os.Exit(1)
	}
	// The runtime opens its own epoll on first timer use; do it before the
	// descriptors run out, or the child dies in netpollinit.
	time.Sleep(time.Microsecond)
	lim := unix.Rlimit{Cur: 48, Max: 48}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		fail("getrlimit: %v", err)
	}
	lim.Max = cur.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fail("setrlimit: %v", err)
	}
	saw := &sawLog{want: []string{"out of descriptors", "too many open files"}, ch: make(chan struct{})}
	cfg := Config{Addr: "127.0.0.1:0", Loops: 2, Logger: slog.New(saw)}
	var eng Engine
	h := &counter{}
	switch mode {
	case "epoll-reuseport", "epoll-acceptor":
		e, err := NewEpoll(cfg)
		if err != nil {
			fail("%v", err)
		}
		if mode == "epoll-acceptor" {
			e.mode = acceptSingle
		}
		eng = e
	case "netpoll":
		e, err := NewNetpoll(cfg)
		if err != nil {
			fail("%v", err)
		}
		eng = e
	}
	if err := eng.Serve(h); err != nil {
		fail("serve: %v", err)
	}
	fmt.Printf("addr %s\n", eng.Addr())
	select {
	case <-saw.ch:
	case <-time.After(30 * time.Second):
		fail("accept never ran out of descriptors (opened %d)", h.opens.Load())
	}
	// Out of descriptors, an engine backs off instead of retrying accept
	// (and logging) in a busy loop.
	n0 := saw.n.Load()
	time.Sleep(300 * time.Millisecond) // a rate over a fixed window, not synchronisation
	if k := saw.n.Load() - n0; k > 100 {
		fail("%d log records in 300 ms while out of descriptors: accept is spinning", k)
	}
	// Each step must return within 3 s; the old code never returned.
	within := func(what string, f func() error) time.Duration {
		t0 := time.Now()
		res := make(chan error, 1)
		go func() { res <- f() }()
		select {
		case err := <-res:
			if err != nil {
				fail("%s: %v", what, err)
			}
		case <-time.After(3 * time.Second):
			fail("%s has not returned after 3 s with descriptors exhausted (%d open)", what, h.opens.Load())
		}
		return time.Since(t0)
	}
	dStop := within("StopAccepting", eng.StopAccepting)
	dClose := within("Close", eng.Close)
	if mode == "netpoll" {
		// netpoll answers EMFILE with an accept-retry goroutine of its own
		// that stops only when Accept reports nothing to accept.
		end := time.Now().Add(3 * time.Second)
		for retrying() {
			if time.Now().After(end) {
				fail("netpoll's accept-retry goroutine still runs 3 s after Close")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Printf("ok %s: %d connections held, StopAccepting %v, Close %v\n", mode, h.opens.Load(), dStop.Round(time.Millisecond), dClose.Round(time.Millisecond))
}

// retrying reports whether netpoll's accept-retry goroutine (started in
// (*server).OnRead on EMFILE) is alive.
func retrying() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "netpoll.(*server).OnRead.func")
}

// sawLog is a slog.Handler that closes ch the first time a record's
// message or attributes contain one of want.
type sawLog struct {
	want []string
	ch   chan struct{}
	once sync.Once
	n    atomic.Int64 // records handled
}

func (s *sawLog) Enabled(context.Context, slog.Level) bool { return true }

func (s *sawLog) Handle(_ context.Context, r slog.Record) error {
	s.n.Add(1)
	text := r.Message
	r.Attrs(func(a slog.Attr) bool { text += " " + a.Value.String(); return true })
	for _, w := range s.want {
		if strings.Contains(text, w) {
			s.once.Do(func() { close(s.ch) })
		}
	}
	return nil
}

func (s *sawLog) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *sawLog) WithGroup(string) slog.Handler      { return s }
