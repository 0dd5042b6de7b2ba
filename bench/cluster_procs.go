package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/internal/natsrv"
)

// The processes of a cluster run: one embedded NATS server (in this
// process, internal/natsrv) and several `starling serve -nats` children,
// each on its own port. A process here may hold at most 20,000
// descriptors, so one node is several processes sharing a channel space
// through the bus, which is what a cluster is.

// clusterProcs is the node's processes.
type clusterProcs struct {
	nats    *natsrv.Server
	dir     string
	servers []*Target
	extra   []string
	maxConn int
}

// startClusterProcs starts NATS and n servers and waits until every one
// is ready (its /readyz, which covers the bus).
func startClusterProcs(ctx context.Context, n, maxConns int, extra []string) (*clusterProcs, error) {
	dir, err := os.MkdirTemp("", "starling-bench-nats-")
	if err != nil {
		return nil, err
	}
	// max_pending: a node that falls behind by more is cut by NATS as a
	// slow consumer (it reconnects and catches up); 256 MiB is well over a
	// run's live feed.
	ns, err := natsrv.Start(natsrv.Options{Dir: dir, MaxPending: 256 << 20})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nats: %w", err)
	}
	cp := &clusterProcs{nats: ns, dir: dir, maxConn: maxConns}
	cp.extra = append([]string{"-nats", ns.URL(), "-nats-storage", "memory", "-drain-timeout", "10s",
		"-nats-fetch-queue", "20000", "-nats-max-fetches", "32"}, extra...)
	for range n {
		if _, err := cp.add(ctx); err != nil {
			cp.stop()
			return nil, err
		}
	}
	return cp, nil
}

// add starts one more server and waits until it is ready.
func (cp *clusterProcs) add(ctx context.Context) (*Target, error) {
	t, err := Spawn(ctx, SpawnOpts{Engine: "epoll", MaxConns: cp.maxConn, Extra: cp.extra})
	if err != nil {
		return nil, err
	}
	cp.servers = append(cp.servers, t)
	if err := waitReadyz(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// waitReadyz polls a spawned server's /readyz until 200 (15 s at most).
func waitReadyz(ctx context.Context, t *Target) error {
	if t.MetricsURL == "" {
		return nil
	}
	url := strings.TrimSuffix(t.MetricsURL, "/metrics") + "/readyz"
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s not ready after 15 s", t.Addr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends every server (in parallel) and NATS, and removes its store.
func (cp *clusterProcs) stop() {
	var wg sync.WaitGroup
	for _, t := range cp.servers {
		wg.Add(1)
		go func() { defer wg.Done(); t.Stop() }()
	}
	wg.Wait()
	cp.nats.Stop()
	os.RemoveAll(cp.dir)
}

// drainTimeout is the servers' -drain-timeout (the last one given wins).
func (cp *clusterProcs) drainTimeout() string {
	v := ""
	for i, a := range cp.extra {
		if a == "-drain-timeout" && i+1 < len(cp.extra) {
			v = cp.extra[i+1]
		} else if x, ok := strings.CutPrefix(a, "-drain-timeout="); ok {
			v = x
		}
	}
	return v
}

func (cp *clusterProcs) pids() []int {
	var p []int
	for _, t := range cp.servers {
		p = append(p, t.PID)
	}
	return p
}

// procSum is RSS and CPU summed over processes.
type procSum struct {
	rss     int64
	cpu     float64
	userCPU float64
	n       int // processes read
}

func sumProcs(pids []int) procSum {
	var s procSum
	for _, pid := range pids {
		if p, err := procstat.ReadProc(pid); err == nil {
			s.rss += p.RSS
			s.cpu += p.CPU()
			s.userCPU += p.UserCPU
			s.n++
		}
	}
	return s
}

// cpuTrack follows the servers' CPU through a phase in which one exits
// and another starts: per process, the first and the last value seen
// (a process started during the phase counts from 0, one that exited
// until the last look before it did, at most one poll earlier).
type cpuTrack struct {
	first, last, firstUser, lastUser map[int]float64
	started                          bool // the phase's first look is done
}

func newCPUTrack(pids []int) *cpuTrack {
	t := &cpuTrack{first: map[int]float64{}, last: map[int]float64{}, firstUser: map[int]float64{}, lastUser: map[int]float64{}}
	t.look(pids)
	t.started = true
	return t
}

// look reads every pid; a pid seen for the first time starts at 0 unless
// it was there at the start.
func (t *cpuTrack) look(pids []int) {
	for _, pid := range pids {
		p, err := procstat.ReadProc(pid)
		if err != nil {
			continue
		}
		if _, ok := t.first[pid]; !ok {
			t.first[pid], t.firstUser[pid] = p.CPU(), p.UserCPU
			if t.started { // started during the phase: all of it counts
				t.first[pid], t.firstUser[pid] = 0, 0
			}
		}
		t.last[pid], t.lastUser[pid] = p.CPU(), p.UserCPU
	}
}

// used is the CPU seconds (all, user) the processes used over the phase.
func (t *cpuTrack) used() (cpu, user float64) {
	for pid, l := range t.last {
		cpu += l - t.first[pid]
		user += t.lastUser[pid] - t.firstUser[pid]
	}
	return cpu, user
}

// selfCPU is this process's CPU: the embedded NATS server and the bench.
func selfCPU() float64 {
	if p, err := procstat.ReadProc(os.Getpid()); err == nil {
		return p.CPU()
	}
	return 0
}

// somaxconn reads net.core.somaxconn (0 if unreadable).
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
