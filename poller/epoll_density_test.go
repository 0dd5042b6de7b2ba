//go:build linux

package poller

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Idle density measurement (not part of CI): run with
//
//	STARLING_DENSITY=5000 go test -run TestEpollDensity -v ./poller/
//
// The clients live in a child process (this test binary re-executed), so
// their descriptors and memory are not the server's and the server can hold
// up to ~19,000 sockets under RLIMIT_NOFILE. The server is an echo-only
// epoll engine; its RSS (VmRSS) is read before the connections, once all are
// open and idle, and again after each connection sent one 32-byte message
// and read its echo.
func TestEpollDensity(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STARLING_DENSITY"))
	if n <= 0 {
		t.Skip("set STARLING_DENSITY=<connections> to measure idle density")
	}
	h := &echoCounter{}
	e := startEpoll(t, defaultAcceptMode, Config{}, h)
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := vmRSS(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestDensityClientProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "STARLING_DENSITY_CLIENT="+e.Addr().String()+","+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	expect := func(word string) {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), word) {
				return
			}
			if strings.HasPrefix(lines.Text(), "FAIL") || strings.HasPrefix(lines.Text(), "client:") {
				t.Fatal(lines.Text())
			}
		}
		t.Fatalf("client ended before %q", word)
	}
	expect("opened")
	epWait(t, "server opens", 60*time.Second, func() bool { return e.Stats().Open == int64(n) })
	time.Sleep(200 * time.Millisecond)
	rss1 := vmRSS(t)
	fmt.Fprintln(stdin, "send")
	expect("sent")
	time.Sleep(200 * time.Millisecond)
	rss2 := vmRSS(t)
	runtime.GC()
	debug.FreeOSMemory()
	rss3 := vmRSS(t)
	s := e.Stats()
	t.Logf("N=%d loops=%d: RSS %d KiB before; idle: +%d KiB = %.0f B/conn; after one message each: +%d KiB = %.0f B/conn (after GC+FreeOSMemory: %.0f B/conn); stats %+v",
		n, len(e.loops), rss0, rss1-rss0, float64(rss1-rss0)*1024/float64(n),
		rss2-rss0, float64(rss2-rss0)*1024/float64(n), float64(rss3-rss0)*1024/float64(n), s)
	if s.BytesIn != uint64(32*n) || s.BytesOut != uint64(32*n) {
		t.Errorf("echo incomplete: %+v", s)
	}
}

type echoCounter struct{ counter }

func (h *echoCounter) OnData(c *Conn, b []byte) { _ = c.WriteCopy(b) }

// vmRSS is this process's resident set in KiB.
func vmRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestDensityClientProcess is the client side of TestEpollDensity, run only
// in the child process: N raw blocking sockets, then on "send" one 32-byte
// message and its echo on each, then hold until stdin closes.
func TestDensityClientProcess(t *testing.T) {
	spec := os.Getenv("STARLING_DENSITY_CLIENT")
	if spec == "" {
		t.Skip("child process of TestEpollDensity")
	}
	addr, ns, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(ns)
	sa, fam, err := resolveSockaddr(addr)
	if err != nil {
		fmt.Println("client:", err)
		return
	}
	fds := make([]int, 0, n)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			err = unix.Connect(fd, sa)
		}
		if err != nil {
			fmt.Println("client: connect", i, err)
			return
		}
		fds = append(fds, fd)
	}
	fmt.Println("opened", len(fds))
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		return
	}
	msg := []byte("0123456789abcdef0123456789abcdef")
	buf := make([]byte, 64)
	for _, fd := range fds {
		if _, err := unix.Write(fd, msg); err != nil {
			fmt.Println("client: write", err)
			return
		}
	}
	for _, fd := range fds {
		got := 0
		for got < len(msg) {
			k, err := unix.Read(fd, buf[got:])
			if k <= 0 {
				fmt.Println("client: read", k, err)
				return
			}
			got += k
		}
	}
	fmt.Println("sent")
	for in.Scan() {
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
}
