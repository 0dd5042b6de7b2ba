package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// MaxPerWorker bounds the sockets one worker process holds (RLIMIT_NOFILE
// is 20,000 on the reference machine; a few descriptors are the process's own).
const MaxPerWorker = 19000

// addrsPerWorker source addresses per worker (see Cmd.LAddrs).
const addrsPerWorker = 8

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
