package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/starling-ws/starling/bench/loadclient"
	"github.com/starling-ws/starling/bench/worker"
)

// The test binary plays the real worker role when re-executed.
func TestMain(m *testing.M) {
	if os.Getenv(worker.RoleEnv) == "worker" {
		os.Exit(loadclient.Main(os.Stdin, os.Stdout))
	}
	worker.SelfArgs = func(string) []string { return []string{"-test.run=^$"} }
	os.Exit(m.Run())
}

// Killing the parent's side (closing stdin) makes a worker exit; Stop reaps it.
func TestWorkerExitsOnStdinClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := worker.StartProc(ctx, "worker", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.CloseStdin()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit: %v", err)
		}
	case <-time.After(5 * time.Second):
		p.Kill()
		t.Fatal("worker still running 5 s after its stdin closed")
	}
}

// A real worker answers stats with its own pid, refuses an unknown op with
// an error naming it, and exits 0 when told to.
func TestWorkerCallAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := worker.StartProc(ctx, "worker", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p.Call(ctx, worker.Cmd{Op: "stats"})
	if err != nil || ev.Stats == nil || ev.Stats.PID != p.PID() {
		t.Fatalf("stats: %+v, %v; want pid %d", ev, err, p.PID())
	}
	if _, err := p.Call(ctx, worker.Cmd{Op: "warp"}); err == nil || !strings.Contains(err.Error(), `"warp"`) {
		t.Fatalf("unknown op: %v", err)
	}
	p.Stop()
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "already") {
		// Stop has reaped it; a second Wait can only say so.
		t.Fatalf("second wait after Stop: %v", err)
	}
}

// Serve answers in order: the ready line, one reply per command (a bad
// line gets an error, not silence), "ok" to exit and nothing after it.
func TestServe(t *testing.T) {
	in := strings.NewReader("{\"op\":\"stats\"}\nnot json\n{\"op\":\"exit\"}\n{\"op\":\"stats\"}\n")
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- worker.Serve(in, pw, worker.Event{Ev: "ready", Addr: "a"}, func(c *worker.Cmd) worker.Event {
			return worker.Event{Ev: "stats", Stats: &worker.WStats{Note: c.Op}}
		})
		pw.Close()
	}()
	var got []worker.Event
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var ev worker.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit status %d", c)
	}
	if len(got) != 4 || got[0].Ev != "ready" || got[0].Addr != "a" || got[1].Stats == nil || got[1].Stats.Note != "stats" ||
		got[2].Ev != "err" || !strings.Contains(got[2].Err, "bad command") || got[3].Ev != "ok" {
		t.Fatalf("events %+v", got)
	}
}
