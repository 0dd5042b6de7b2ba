package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// RoleEnv tells a re-executed binary which hidden role to play. The parent
// also passes the role as argv ("bench worker"), which is how the starling
// binary dispatches; test binaries look at the variable in TestMain.
const RoleEnv = "STARLING_BENCH_ROLE"

// SelfArgs are the arguments that make this executable play a role; the
// starling binary needs "bench ROLE", a test binary nothing.
var selfArgs = func(role string) []string { return []string{"bench", role} }

// MaxPerWorker bounds the sockets one worker process holds (RLIMIT_NOFILE
// is 20,000 on the reference machine; a few descriptors are the process's own).
const MaxPerWorker = 19000

// addrsPerWorker source addresses per worker (see Cmd.LAddrs).
const addrsPerWorker = 8

// Proc is a child process driven over JSON lines.
type Proc struct {
	Role   string
	Index  int
	LAddr  string   // first source address its sockets dial from
	LAddrs []string // all of them, used in turn
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	mu     sync.Mutex // one request in flight at a time
	first  Event      // the "ready" event
}

// StartProc re-executes this binary as role and waits for its ready line.
func StartProc(ctx context.Context, role string, index int) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s %d: %w", role, index, err)
	}
	cmd := exec.Command(exe, selfArgs(role)...)
	cmd.Env = append(os.Environ(), RoleEnv+"="+role)
	cmd.Stderr = os.Stderr
	// The child dies with us even if we are killed (SIGKILL on parent
	// death); it also exits on its own when its stdin closes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s %d: start: %w", role, index, err)
	}
	p := &Proc{Role: role, Index: index, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	p.out.Buffer(make([]byte, 1<<20), 64<<20)
	ev, err := p.read(ctx, 15*time.Second)
	if err == nil && ev.Ev != "ready" {
		err = fmt.Errorf("%s", ev.Err)
	}
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%s %d: %w", role, index, err)
	}
	p.first = ev
	return p, nil
}

// PID of the child.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

func (p *Proc) read(ctx context.Context, timeout time.Duration) (Event, error) {
	type res struct {
		ev  Event
		err error
	}
	ch := make(chan res, 1)
	go func() {
		if !p.out.Scan() {
			err := p.out.Err()
			if err == nil {
				err = io.EOF
			}
			ch <- res{err: fmt.Errorf("child exited: %w", err)}
			return
		}
		var ev Event
		err := json.Unmarshal(p.out.Bytes(), &ev)
		ch <- res{ev, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-t.C:
		p.Kill() // the reader goroutine ends when the pipe closes
		return Event{}, fmt.Errorf("no reply within %v", timeout)
	case <-ctx.Done():
		p.Kill()
		return Event{}, ctx.Err()
	}
}

// Call sends c and returns the reply; an "err" reply becomes an error.
func (p *Proc) Call(ctx context.Context, c Cmd) (Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(c)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return Event{}, fmt.Errorf("%s %d: %s: %w", p.Role, p.Index, c.Op, err)
	}
	ev, err := p.read(ctx, 30*time.Second)
	if err == nil && ev.Ev == "err" {
		err = errors.New(ev.Err)
	}
	if err != nil {
		return ev, fmt.Errorf("%s %d: %s: %w", p.Role, p.Index, c.Op, err)
	}
	return ev, nil
}

// Stop asks the child to exit and kills it if it does not within a second.
func (p *Proc) Stop() {
	done := make(chan struct{})
	go func() {
		p.mu.Lock()
		b, _ := json.Marshal(Cmd{Op: "exit"})
		_, _ = p.in.Write(append(b, '\n'))
		p.mu.Unlock()
		_ = p.in.Close()
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		p.Kill()
		<-done
	}
}

// Kill ends the child now.
func (p *Proc) Kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
}

// Fleet is the set of client workers of one run.
type Fleet struct {
	Procs []*Proc
}

// StartFleet starts enough workers for n connections, at most per each,
// worker i dialling from 127.0.(1+i).2 to 127.0.(1+i).9.
func StartFleet(ctx context.Context, n, per int) (*Fleet, error) {
	if per <= 0 || per > MaxPerWorker {
		per = MaxPerWorker
	}
	k := max(1, (n+per-1)/per)
	if k > 250 {
		return nil, fmt.Errorf("%d connections need %d workers; at most 250 workers (127.0.1.x-127.0.250.x)", n, k)
	}
	f := &Fleet{}
	type res struct {
		p   *Proc
		err error
	}
	ch := make(chan res, k)
	for i := 0; i < k; i++ {
		go func(i int) {
			p, err := StartProc(ctx, "worker", i)
			if p != nil {
				// Worker i dials from 127.0.(1+i).2-9: eight addresses keep
				// each one's ephemeral port range under a third full.
				for j := 0; j < addrsPerWorker; j++ {
					p.LAddrs = append(p.LAddrs, fmt.Sprintf("127.0.%d.%d:0", 1+i, 2+j))
				}
				p.LAddr = p.LAddrs[0]
			}
			ch <- res{p, err}
		}(i)
	}
	var first error
	f.Procs = make([]*Proc, k)
	for i := 0; i < k; i++ {
		r := <-ch
		if r.err != nil {
			first = cmpErr(first, r.err)
			continue
		}
		f.Procs[r.p.Index] = r.p
	}
	if first != nil {
		f.Stop()
		return nil, first
	}
	return f, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Split divides n into len(Procs) near-equal parts.
func (f *Fleet) Split(n int) []int {
	k := len(f.Procs)
	parts := make([]int, k)
	for i := range parts {
		parts[i] = n / k
		if i < n%k {
			parts[i]++
		}
	}
	return parts
}

// Each calls every worker in parallel with the command mk builds for it.
func (f *Fleet) Each(ctx context.Context, mk func(i int, p *Proc) (Cmd, bool)) ([]Event, error) {
	evs := make([]Event, len(f.Procs))
	errs := make([]error, len(f.Procs))
	var wg sync.WaitGroup
	for i, p := range f.Procs {
		c, ok := mk(i, p)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs[i], errs[i] = p.Call(ctx, c)
		}()
	}
	wg.Wait()
	return evs, errors.Join(errs...)
}

// Stats sums the workers' counters.
func (f *Fleet) Stats(ctx context.Context) (WStats, error) {
	evs, err := f.Each(ctx, func(int, *Proc) (Cmd, bool) { return Cmd{Op: "stats"}, true })
	var s WStats
	for _, e := range evs {
		if e.Stats != nil {
			s.add(e.Stats)
		}
	}
	return s, err
}

// PIDs of the workers.
func (f *Fleet) PIDs() []int {
	var pids []int
	for _, p := range f.Procs {
		if p != nil {
			pids = append(pids, p.PID())
		}
	}
	return pids
}

// Stop ends every worker.
func (f *Fleet) Stop() {
	var wg sync.WaitGroup
	for _, p := range f.Procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop() }()
	}
	wg.Wait()
}
