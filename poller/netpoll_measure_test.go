//go:build linux

package poller

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNetpollMeasureIdle measures the server process's memory per
// connection, for netpoll's default settings and for the tuned ones
// (netpoll_tune.go): idle after accept, and idle again after every
// connection has sent and received one small message. The server and the
// clients are separate child processes (this test binary re-executed), so
// client sockets are not counted.
//
//	STARLING_MEASURE=1 [STARLING_MEASURE_N=5000,10000] go test ./poller/ -run NetpollMeasureIdle -v
func TestNetpollMeasureIdle(t *testing.T) {
	switch os.Getenv("STARLING_NPM_ROLE") {
	case "server":
		npmServer(t)
		return
	case "client":
		npmClient(t)
		return
	}
	if os.Getenv("STARLING_MEASURE") != "1" {
		t.Skip("set STARLING_MEASURE=1 to measure memory per connection")
	}
	ns := []int{5000, 10000}
	if s := os.Getenv("STARLING_MEASURE_N"); s != "" {
		ns = ns[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("STARLING_MEASURE_N: bad value %q", f)
			}
			ns = append(ns, n)
		}
	}
	var report []string
	for _, n := range ns {
		for _, mode := range []string{"default", "tuned"} {
			m := npmRun(t, mode, n)
			line := fmt.Sprintf("N=%d %-7s | idle: RSS %+7.0f B/conn, Go heap+stacks %+7.0f B/conn (raw RSS %+7.0f) | after 1 msg each: RSS %+7.0f B/conn, heap+stacks %+7.0f B/conn (raw RSS %+7.0f)",
				n, mode,
				m.per(m.idle.rss), m.per(m.idle.heap), m.per(m.idle.rawRSS),
				m.per(m.msg.rss), m.per(m.msg.heap), m.per(m.msg.rawRSS))
			t.Log(line)
			report = append(report, line)
		}
	}
	fmt.Println("netpoll memory per connection (server process; client sockets in another process):")
	for _, l := range report {
		fmt.Println("  " + l)
	}
}

type npmSample struct{ rss, heap, rawRSS float64 }

type npmResult struct {
	n               int
	base, idle, msg npmSample
}

func (m npmResult) per(v float64) float64 {
	return v / float64(m.n)
}

// npmRun runs one server and one client process and returns the server's
// growth over its baseline.
func npmRun(t *testing.T, mode string, n int) npmResult {
	t.Helper()
	child := func(role string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNetpollMeasureIdle$", "-test.count=1")
		cmd.Env = append(os.Environ(), append([]string{"STARLING_NPM_ROLE=" + role, "STARLING_MEASURE=0"}, env...)...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
		return cmd, in, bufio.NewScanner(out)
	}
	expect := func(sc *bufio.Scanner, tag string) []string {
		t.Helper()
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "NPM" && f[1] == tag {
				return f[2:]
			}
		}
		t.Fatalf("child ended before %q: %v", tag, sc.Err())
		return nil
	}
	sample := func(f []string) npmSample {
		v := func(s string) float64 { x, _ := strconv.ParseFloat(s, 64); return x }
		return npmSample{rss: v(f[0]), heap: v(f[1]), rawRSS: v(f[2])}
	}
	ns := strconv.Itoa(n)
	_, sIn, sOut := child("server", "STARLING_NPM_MODE="+mode, "STARLING_NPM_N="+ns)
	f := expect(sOut, "BASE")
	port := f[0]
	res := npmResult{n: n, base: sample(f[1:])}
	_, cIn, cOut := child("client", "STARLING_NPM_ADDR=127.0.0.1:"+port, "STARLING_NPM_N="+ns)
	expect(cOut, "DIALED")
	fmt.Fprintln(sIn, "idle")
	res.idle = sample(expect(sOut, "IDLE"))
	fmt.Fprintln(cIn, "send")
	expect(cOut, "DONE")
	fmt.Fprintln(sIn, "msg")
	res.msg = sample(expect(sOut, "MSG"))
	for _, s := range []*npmSample{&res.idle, &res.msg} {
		s.rss -= res.base.rss
		s.heap -= res.base.heap
		s.rawRSS -= res.base.rawRSS
	}
	cIn.Close()
	sIn.Close()
	return res
}

const npmMsg = "0123456789abcdef" // one small message each way

// npmMeasure prints rss (after GC and returning free memory to the OS),
// Go heap in use + stacks, and rss before that GC, all in bytes.
func npmMeasure() string {
	raw := npmRSS()
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("%d %d %d", npmRSS(), ms.HeapInuse+ms.StackInuse, raw)
}

func npmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	panic("no VmRSS")
}

func npmServer(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STARLING_NPM_N"))
	netpollTuned = os.Getenv("STARLING_NPM_MODE") == "tuned"
	var got atomic.Int64
	r := newNpRec(t)
	r.onData = func(c *Conn, b []byte) {
		got.Add(int64(len(b)))
		echoData(c, b)
	}
	e := startNetpoll(t, Config{}, r)
	// Warm netpoll's pollers and our buffers with one connection first.
	w := dialNp(t, e)
	w.Write([]byte(npmMsg))
	io.ReadFull(w, make([]byte, len(npmMsg)))
	w.Close()
	npWaitFor(t, 5*time.Second, "warm-up close", func() bool { return e.Stats().Open == 0 })
	got.Store(0)
	fmt.Printf("NPM BASE %d %s\n", e.Addr().(*net.TCPAddr).Port, npmMeasure())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "idle":
			npWaitFor(t, 60*time.Second, "all open", func() bool { return e.Stats().Open == int64(n) })
			time.Sleep(500 * time.Millisecond)
			fmt.Printf("NPM IDLE %s\n", npmMeasure())
		case "msg":
			npWaitFor(t, 60*time.Second, "all messages", func() bool { return got.Load() == int64(n*len(npmMsg)) })
			time.Sleep(500 * time.Millisecond)
			fmt.Printf("NPM MSG %s\n", npmMeasure())
		}
	}
}

func npmClient(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STARLING_NPM_N"))
	addr := os.Getenv("STARLING_NPM_ADDR")
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("NPM DIALED")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "send" {
			continue
		}
		for _, c := range conns {
			if _, err := c.Write([]byte(npmMsg)); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, len(npmMsg))
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, []byte(npmMsg)) {
				t.Fatalf("echo %d: %q %v", i, buf, err)
			}
		}
		fmt.Println("NPM DONE")
	}
	for _, c := range conns {
		c.Close()
	}
}
