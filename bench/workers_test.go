package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/prometheus/procfs"

	"github.com/starling-ws/starling/bench/loadclient"
	"github.com/starling-ws/starling/bench/worker"
)

// The test binary plays the worker roles itself when re-executed.
func TestMain(m *testing.M) {
	switch os.Getenv(worker.RoleEnv) {
	case "worker":
		os.Exit(loadclient.Main(os.Stdin, os.Stdout))
	case "floor-server":
		os.Exit(floorServerMain(os.Stdin, os.Stdout))
	case "bench-main": // a whole `starling bench` run, for the SIGINT test
		worker.SelfArgs = func(string) []string { return []string{"-test.run=^$"} }
		os.Exit(Main(strings.Fields(os.Getenv("STARLING_TEST_ARGS")), os.Stdout, os.Stderr))
	}
	worker.SelfArgs = func(string) []string { return []string{"-test.run=^$"} }
	os.Exit(m.Run())
}

func TestFloorSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ff, res, err := RunFloor(ctx, FloorOpts{N: 200, Rounds: 3, Size: 64, PerWorker: 120, Rate: 0, Timeout: 25 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ff.Sends != 600 || ff.SendCPUMicros <= 0 {
		t.Fatalf("sends %d, cpu/send %v", ff.Sends, ff.SendCPUMicros)
	}
	var b bytes.Buffer
	res.WriteTable(&b)
	t.Logf("\n%s", b.String())
}

// wsServer is a minimal pub/sub speaking the bench's JSON ops, built on
// gobwas/ws with a goroutine per connection (fine for a test): it acks
// subs and pubs, fans pubs out as msg pushes and pings every client once.
type wsServer struct {
	ln     net.Listener
	mu     sync.Mutex
	subs   map[string][]net.Conn
	pongs  atomic.Int64
	wmu    sync.Mutex
	remote sync.Map // source IPs seen
	// refuseOdd: every other upgrade request is answered 503 with
	// Retry-After: 1 (an accept-rate stand-in); refused counts them.
	refuseOdd atomic.Bool
	upgrades  atomic.Int64
	refused   atomic.Int64
	bearers   sync.Map // Authorization header values seen on upgrades
}

func startWS(t *testing.T) *wsServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &wsServer{ln: ln, subs: map[string][]net.Conn{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *wsServer) write(c net.Conn, p []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = wsutil.WriteServerMessage(c, ws.OpText, p)
}

func (s *wsServer) serve(c net.Conn) {
	defer c.Close()
	if s.refuseOdd.Load() && s.upgrades.Add(1)%2 == 1 {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		s.refused.Add(1)
		io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up := ws.Upgrader{OnHeader: func(k, v []byte) error {
		if strings.EqualFold(string(k), "Authorization") {
			s.bearers.Store(string(v), true)
		}
		return nil
	}}
	if _, err := up.Upgrade(c); err != nil {
		return
	}
	s.remote.Store(strings.Split(c.RemoteAddr().String(), ":")[0], true)
	s.wmu.Lock()
	_ = ws.WriteFrame(c, ws.NewPingFrame(nil))
	s.wmu.Unlock()
	r := bufio.NewReader(c)
	for {
		h, p, err := readClientFrame(r)
		if err != nil {
			return
		}
		switch h.OpCode {
		case ws.OpPong:
			s.pongs.Add(1)
		case ws.OpText:
			m := string(p)
			ch := between(m, `"ch":"`, `"`)
			id := between(m, `"id":`, `}`)
			switch {
			case strings.Contains(m, `"op":"sub"`):
				s.mu.Lock()
				s.subs[ch] = append(s.subs[ch], c)
				s.mu.Unlock()
				s.write(c, []byte(`{"op":"ack","id":`+id+`}`))
			case strings.Contains(m, `"op":"pub"`):
				data := m[strings.Index(m, `"data":`)+7 : strings.LastIndex(m, `,"id"`)]
				s.mu.Lock()
				to := append([]net.Conn(nil), s.subs[ch]...)
				s.mu.Unlock()
				for _, sc := range to {
					s.write(sc, []byte(`{"op":"msg","ch":"`+ch+`","off":1,"data":`+data+`}`))
				}
				s.write(c, []byte(`{"op":"ack","id":`+id+`}`))
			}
		}
	}
}

// readClientFrame reads one client frame and unmasks its payload.
func readClientFrame(r *bufio.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	if j := strings.Index(s, b); j >= 0 {
		return s[:j]
	}
	return s
}

// Two workers (60 per worker) against the test server: every connection
// upgrades from its worker's own source address, subscribes, answers the
// ping, and receives every publish with a latency recorded.
func TestFleetBroadcastAgainstTestServer(t *testing.T) {
	srv := startWS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	o := &Opts{N: 100, Rate: 0, PerWorker: 60, Duration: 15 * time.Second, Timeout: 30 * time.Second, Publishes: 5, PubRate: 50, Size: 64}
	fl, err := worker.StartFleet(ctx, o.N+1, o.PerWorker)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Stop()
	if len(fl.Procs) != 2 {
		t.Fatalf("%d workers for 101 sockets at 60 each, want 2", len(fl.Procs))
	}
	s := &session{t: &Target{Addr: srv.ln.Addr().String(), Path: "/ws"}, fl: fl, smp: &Sampler{PID: os.Getpid()}}
	r := newResult("broadcast", o.N)
	out, err := pubsubRun{subs: o.N, channels: 1, pubs: 1, count: o.Publishes, prefix: "bc", trackSeqs: true}.run(ctx, o, s, r)
	if err != nil {
		t.Fatal(err)
	}
	if out.received != 500 || out.expected != 500 {
		t.Fatalf("received %d of %d", out.received, out.expected)
	}
	if out.hist.TotalCount() != 500 || out.hist.Max() <= 0 {
		t.Fatalf("histogram holds %d values, max %d", out.hist.TotalCount(), out.hist.Max())
	}
	if len(out.lastMs) != 5 || out.lastMs[0] <= 0 {
		t.Fatalf("per-publish last delivery %v", out.lastMs)
	}
	st, _ := fl.Stats(ctx)
	if st.Pings < 101 || st.Subacks != 100 || st.Pubacks != 5 {
		t.Fatalf("pings %d subacks %d pubacks %d", st.Pings, st.Subacks, st.Pubacks)
	}
	// Each worker dials from its own addresses, 127.0.(1+i).2-9.
	for _, a := range []string{"127.0.1.2", "127.0.1.9", "127.0.2.2", "127.0.2.9"} {
		if _, ok := srv.remote.Load(a); !ok {
			t.Errorf("no connection came from %s", a)
		}
	}
	// Pongs reach the server (masked frames it can read).
	for end := time.Now().Add(5 * time.Second); srv.pongs.Load() < 101 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if srv.pongs.Load() < 101 {
		t.Fatalf("server got %d pongs, want 101", srv.pongs.Load())
	}
	out.report(r, o)
	path := t.TempDir() + "/c.svg"
	if err := WriteChart(path, r); err != nil {
		t.Fatal(err)
	}
}

func TestBenchFlagErrorsNameTheFlag(t *testing.T) {
	f := func(scen string, args []string, want string) {
		t.Helper()
		_, err := ParseBenchArgs(scen, args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s %v: err %v, want it to name %s", scen, args, err, want)
		}
	}
	f("idle", []string{"-spawn", "-n", "0"}, "-n")
	f("idle", []string{"-spawn", "-ns", "1,x"}, "-ns")
	f("idle", []string{"-spawn", "-per-worker", "50000"}, "-per-worker")
	f("broadcast", []string{"-spawn", "-size", "8"}, "-size")
	f("broadcast", []string{"-spawn", "-duration", "0s"}, "-duration")
	f("broadcast", []string{"-spawn", "-engine", "kqueue"}, "-engine")
	f("storm", []string{"-spawn", "-fraction", "2"}, "-fraction")
	f("connect", []string{"-url", "http://x"}, "-url")
	f("connect", nil, "-spawn")
	f("warp", nil, "warp")
	f("connect", []string{"-spawn", "-compress"}, "-compress")
	f("idle", []string{"-spawn", "-jwt-secret-file", "/tmp/x"}, "-jwt-secret-file")
	f("idle", []string{"-url", "ws://127.0.0.1:1/ws", "-pid", "1", "-tokens"}, "-jwt-secret-file")
	f("idle", []string{"-spawn", "-tokens", "-profile", "p.json"}, "-profile")
	f("floor", []string{"-tokens"}, "-tokens")
	f("broadcast", []string{"-spawn", "-m", "10"}, "-m")
	f("storm", []string{"-spawn", "-m", "-1"}, "-m")
	f("storm", []string{"-spawn", "-m", "10", "-pub-rate", "0"}, "-pub-rate")
}

// children lists live (non-zombie) processes whose parent is pid.
func children(pid int) []int {
	var out []int
	procs, _ := procfs.AllProcs()
	for _, p := range procs {
		if st, err := p.Stat(); err == nil && st.State != "Z" && st.PPID == pid {
			out = append(out, p.PID)
		}
	}
	return out
}

// SIGINT in the middle of a run: the bench exits and leaves no worker or
// server process behind.
func TestSIGINTCleansUp(t *testing.T) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), worker.RoleEnv+"=bench-main", "STARLING_TEST_ARGS=floor -n 300 -per-worker 150 -publishes 1000000 -timeout 60s")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var kids []int
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if kids = children(cmd.Process.Pid); len(kids) >= 3 { // floor server + 2 workers
			break
		}
	}
	if len(kids) < 3 {
		t.Fatalf("run started %d child processes, want 3", len(kids))
	}
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("interrupted run exited 0")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("bench still running 15 s after SIGINT")
	}
	for _, k := range kids {
		if p, err := procfs.NewProc(k); err == nil {
			if st, err := p.Stat(); err == nil && st.State != "Z" {
				t.Errorf("child %d (%s) still alive after SIGINT, state %s", k, st.Comm, st.State)
			}
		}
	}
}
