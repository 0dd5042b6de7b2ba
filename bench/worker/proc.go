package worker

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

// SelfArgs are the arguments that make this executable play a role: the
// starling binary needs "bench ROLE". A test binary that plays the roles
// itself (from RoleEnv, in its TestMain) replaces it before starting any.
var SelfArgs = func(role string) []string { return []string{"bench", role} }

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
	ready  Event      // the "ready" line
}

// StartProc re-executes this binary as role and waits for its ready line.
func StartProc(ctx context.Context, role string, index int) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%s %d: %w", role, index, err)
	}
	cmd := exec.Command(exe, SelfArgs(role)...)
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
	p.ready = ev
	return p, nil
}

// Ready is the child's "ready" line (a floor server puts its address in it).
func (p *Proc) Ready() Event { return p.ready }

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
