package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/bench/procstat"
	"github.com/starling-ws/starling/bench/worker"
	"github.com/starling-ws/starling/internal/wsframe"
)

// RunPressure is issue 9's stress run, all at once against one server: N
// subscribers on one channel get an unpaced burst; meanwhile a probe client
// connects, subscribes to that channel and waits for its ack every 20 ms
// (compared with the same probe on the quiet server just before), one
// publisher floods another channel as fast as it can, and a few clients
// subscribed to the flooded channel never read. It reports the probe's
// latency quiet and under pressure, the server's peak RSS and heap, what
// the flooder was told (acks, err 429s), what became of the non-readers,
// and the server sockets left in FIN-WAIT-1 with unsent bytes once the
// close grace has passed.
func RunPressure(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	const nonReaders = 8
	s, err := o.open(ctx, o.N+16, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("pressure", o.N)
	r.note(s.t.Note)
	st, err := s.dial(ctx, o, o.N, worker.Cmd{Prefix: "pr.", Channels: 1})
	if err != nil {
		return nil, err
	}
	if st.Open < int64(o.N) {
		return nil, fmt.Errorf("pressure: %d of %d subscribers connected", st.Open, o.N)
	}
	if _, err := waitSubacks(ctx, s.fl, 0, o.N, s.prog); err != nil {
		return nil, err
	}

	// The quiet baseline.
	quiet := worker.NewHist()
	if err := probeFor(ctx, s.t, quiet, 3*time.Second, nil); err != nil {
		return nil, fmt.Errorf("quiet probe: %w", err)
	}

	// Pressure: non-readers and flooder first, then the burst.
	var readers []*rawClient
	for i := range nonReaders {
		c, err := dialRaw(s.t.Addr, s.t.Path, 4096, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("non-reader %d: %w", i, err)
		}
		defer c.close()
		if err := c.sendJSON(map[string]any{"op": "sub", "ch": "pr.flood"}); err != nil {
			return nil, err
		}
		readers = append(readers, c)
	}
	fl := &flooder{}
	flood, err := dialRaw(s.t.Addr, s.t.Path, 0, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("flooder: %w", err)
	}
	defer flood.close()
	stopFlood := make(chan struct{})
	var floodWG sync.WaitGroup
	// Flood with 4 KiB messages so the non-readers' queues overflow within
	// seconds even at the default -max-publish-rate.
	fl.run(flood, stopFlood, &floodWG, max(o.Size, 4096))
	floodStart := time.Now()

	peak := &peakSampler{smp: s.smp}
	stopPeak := peak.start()

	pst, _ := s.fl.Stats(ctx)
	if _, err := s.fl.Procs[0].Call(ctx, worker.Cmd{Op: "dial", Addr: s.t.Addr, Path: s.t.Path, LAddrs: s.fl.Procs[0].LAddrs, N: 1, Pub: true, Prefix: "pr.", Channels: 1}); err != nil {
		return nil, err
	}
	if _, err := waitOutcomes(ctx, s.fl, pst, 1, "publisher", s.prog); err != nil {
		return nil, err
	}
	before, _ := s.fl.Stats(ctx)
	jw0 := s.smp.scrapeHist("starling_join_wait_seconds")
	cpu0 := readCPU(s.t.PID, s.fl.PIDs())
	expected := int64(o.Publishes) * int64(o.N)
	busy := worker.NewHist()
	burstStart := time.Now()
	if _, err := s.fl.Procs[0].Call(ctx, worker.Cmd{Op: "pub", Count: o.Publishes, Size: o.Size, Rate: 0, Prefix: "pr.", Channels: 1}); err != nil {
		return nil, err
	}
	var delivered atomic.Bool
	go func() {
		for ctx.Err() == nil && time.Since(burstStart) < o.Duration {
			cur, err := s.fl.Stats(ctx)
			if err == nil && cur.Msgs-before.Msgs >= expected {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		delivered.Store(true)
	}()
	if err := probeFor(ctx, s.t, busy, o.Duration, &delivered); err != nil {
		return nil, fmt.Errorf("probe under pressure: %w", err)
	}
	burstTook := time.Since(burstStart)
	after, _ := s.fl.Stats(ctx)
	jw := s.smp.scrapeHist("starling_join_wait_seconds").since(jw0)
	cores := readCPU(s.t.PID, s.fl.PIDs()).since(cpu0, burstTook)
	if d := 5*time.Second - time.Since(floodStart); d > 0 {
		time.Sleep(d) // flood at least 5 s in all: the non-readers must overflow
	}
	close(stopFlood)
	floodWG.Wait()
	floodTook := time.Since(floodStart)
	stopPeak()

	// The non-readers were closed as slow consumers; their sockets must
	// be reset once the close grace is over, not left in FIN-WAIT-1 with
	// megabytes unsent. Wait the grace (default 5 s) and one second more.
	grace := o.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(grace + time.Second):
	}
	port := portOf(s.t.Addr)
	fw := procstat.FinWait1Unsent(port)
	resetSeen := 0
	for _, c := range readers {
		c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.c.Read(buf); err != nil {
				if strings.Contains(err.Error(), "reset") {
					resetSeen++
				}
				break
			}
		}
	}

	q, b := summarize(quiet), summarize(busy)
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	r.addf("subscribers", "%d on one channel; burst of %d publishes of %d B, unpaced", o.N, o.Publishes, o.Size)
	r.addf("probe quiet", "connect+sub+ack p50 %.2f / p99 %.2f / max %.2f ms (n=%d)", ms(q.P50), ms(q.P99), ms(q.Max), quiet.TotalCount())
	r.addf("probe under pressure", "p50 %.2f / p99 %.2f / max %.2f ms (n=%d)", ms(b.P50), ms(b.P99), ms(b.Max), busy.TotalCount())
	got := after.Msgs - before.Msgs
	r.addf("burst", "%d of %d deliveries in %v (%.0f/s)", got, expected, burstTook.Round(time.Millisecond), float64(got)/burstTook.Seconds())
	r.addf("cores during the burst", "%s", cores)
	if jw.total() > 0 {
		r.addf("server join wait", "p50 %.2f / p99 %.2f ms under pressure (starling_join_wait_seconds, n=%d): the server's share of the probe", jw.quantile(0.5)*1e3, jw.quantile(0.99)*1e3, jw.total())
		r.Figures["join_wait_p99_ms"] = jw.quantile(0.99) * 1e3
	}
	refused := fl.rated.Load() + fl.busy.Load() + fl.other.Load()
	r.addf("flooder", "%d pubs of 4 KiB written in %v (TCP backpressure decides how many); the server refused %d with 429 (rate), %d with 429 (queue), %d otherwise; %s",
		fl.sent.Load(), floodTook.Round(time.Millisecond), fl.rated.Load(), fl.busy.Load(), fl.other.Load(), fl.outcome())
	r.addf("non-readers", "%d subscribed to the flooded channel, never read; %d saw a reset when finally reading", nonReaders, resetSeen)
	r.addf("FIN-WAIT-1 left", "%d server sockets with unsent bytes %v after the close grace (%d bytes unsent in all)", fw.Sockets, time.Second, fw.Unsent)
	r.addf("server memory", "peak RSS %s, peak Go heap %s (sampled every 100 ms)", fmtMiB(peak.rss.Load()), fmtMiB(peak.heap.Load()))
	r.Figures["probe_quiet_p99_ms"], r.Figures["probe_quiet_max_ms"] = ms(q.P99), ms(q.Max)
	r.Figures["probe_busy_p50_ms"], r.Figures["probe_busy_p99_ms"], r.Figures["probe_busy_max_ms"] = ms(b.P50), ms(b.P99), ms(b.Max)
	r.Figures["burst_deliveries"], r.Figures["burst_ms"] = float64(got), float64(burstTook.Milliseconds())
	r.Figures["flood_sent"], r.Figures["flood_refused"] = float64(fl.sent.Load()), float64(refused)
	r.Figures["fin_wait1_unsent"] = float64(fw.Sockets)
	r.Figures["peak_rss_bytes"], r.Figures["peak_heap_bytes"] = float64(peak.rss.Load()), float64(peak.heap.Load())
	r.Latency = b
	return r, nil
}

// probeFor runs the probe every 20 ms until d passes or stop is set: each
// time a fresh connection, a sub on the burst channel, the ack awaited;
// the whole is recorded in h (microseconds).
func probeFor(ctx context.Context, t *Target, h *hdr.Histogram, d time.Duration, stop *atomic.Bool) error {
	end := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for k := 0; time.Now().Before(end) && (stop == nil || !stop.Load()); k++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		start := time.Now()
		c, err := dialRaw(t.Addr, t.Path, 0, 10*time.Second)
		if err != nil {
			return err
		}
		c.c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := c.sendJSON(map[string]any{"op": "sub", "ch": "pr.0", "id": k}); err != nil {
			c.close()
			return err
		}
		m, err := c.nextJSON()
		c.close()
		if err != nil {
			return err
		}
		if m["op"] != "ack" {
			return fmt.Errorf("probe %d: first reply %v, want its ack", k, m)
		}
		h.RecordValue(max(time.Since(start).Microseconds(), 1))
	}
	return nil
}

// flooder publishes as fast as it can to a channel of its own (the
// non-readers are on it), one prebuilt frame over and over as a cheap
// attacker would, without ids: a publish that is taken gets no reply, a
// refusal gets an err, which the read side counts by cause.
type flooder struct {
	sent, rated, busy, other atomic.Int64
	closed                   atomic.Value // error that ended the read side
}

func (f *flooder) run(c *rawClient, stop <-chan struct{}, wg *sync.WaitGroup, size int) {
	p, _ := json.Marshal(map[string]any{"op": "pub", "ch": "pr.flood", "data": strings.Repeat("f", max(size-40, 1))})
	frame := wsframe.AppendClient(nil, ws.OpText, true, p)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for f.closed.Load() == nil {
			select {
			case <-stop:
				return
			default:
			}
			c.c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.c.Write(frame); err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					continue // slowed down by the server: TCP backpressure
				}
				return
			}
			f.sent.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.c.SetReadDeadline(time.Now().Add(time.Second))
			m, err := c.nextJSON()
			if err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				f.closed.Store(err)
				return
			}
			switch {
			case m["op"] == "err" && m["code"] == float64(429) && strings.Contains(fmt.Sprint(m["msg"]), "rate"):
				f.rated.Add(1)
			case m["op"] == "err" && m["code"] == float64(429):
				f.busy.Add(1)
			case m["op"] == "err":
				f.other.Add(1)
			}
		}
	}()
}

func (f *flooder) outcome() string {
	if err, _ := f.closed.Load().(error); err != nil {
		return "its connection ended: " + err.Error()
	}
	return "its connection stayed open"
}

// peakSampler keeps the largest RSS and heap seen every 100 ms.
type peakSampler struct {
	smp       *Sampler
	rss, heap atomic.Int64
}

func (p *peakSampler) start() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if smp, err := p.smp.Take(); err == nil {
				if smp.RSS > p.rss.Load() {
					p.rss.Store(smp.RSS)
				}
				if smp.Heap > p.heap.Load() {
					p.heap.Store(smp.Heap)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// cpuSplit is the CPU seconds the server, the worker processes and this
// process used between two readings: on a shared machine the targets are
// judged on the server's share.
type cpuSplit struct{ server, clients, self float64 }

func readCPU(serverPID int, workers []int) cpuSplit {
	var c cpuSplit
	if p, err := procstat.ReadProc(serverPID); err == nil {
		c.server = p.CPU()
	}
	for _, pid := range workers {
		if p, err := procstat.ReadProc(pid); err == nil {
			c.clients += p.CPU()
		}
	}
	if p, err := procstat.ReadProc(os.Getpid()); err == nil {
		c.self = p.CPU()
	}
	return c
}

func (b cpuSplit) since(a cpuSplit, wall time.Duration) string {
	w := wall.Seconds()
	return fmt.Sprintf("server %.2f, clients %.2f, bench process (probe, flooder) %.2f cores of %d over %v",
		(b.server-a.server)/w, (b.clients-a.clients)/w, (b.self-a.self)/w, runtime.NumCPU(), wall.Round(time.Millisecond))
}
