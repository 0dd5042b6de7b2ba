package bench

import (
	"fmt"
	"math"
	"strings"

	"github.com/starling-ws/starling/bench/chart"
	"github.com/starling-ws/starling/bench/plan"
)

// WriteChart draws r to path (SVG; an .html path wraps the SVG in a page):
// one panel per kind of data the result holds (latency percentiles, time
// until the last subscriber per publish, memory against open connections,
// per-connection cost per N).
func WriteChart(path string, r *Result) error {
	ps := chartPanels(r)
	if len(ps) == 0 {
		return fmt.Errorf("no chartable data in a %s run", r.Scenario)
	}
	return chart.Write(path, fmt.Sprintf("starling bench %s, N=%d", r.Scenario, r.N),
		fmt.Sprintf("%s · commit %s · %d CPUs · %s RAM · kernel %s", r.Date, r.Commit, r.Machine.CPUs, plan.FmtBytes(float64(r.Machine.MemTotal)), r.Machine.Kernel), ps)
}

func chartPanels(r *Result) []chart.Panel {
	var ps []chart.Panel
	if l := r.Latency; l != nil && l.Count > 0 {
		// x: "nines" = -log10(1 - p), so 90% -> 1, 99% -> 2, 99.9% -> 3.
		var s chart.Series
		for _, c := range l.Curve {
			if c.Pct >= 100 {
				continue
			}
			s.Pts = append(s.Pts, chart.Point{X: -math.Log10(1 - c.Pct/100), Y: float64(c.US) / 1000})
		}
		s.Pts = append(s.Pts, chart.Point{X: 5, Y: float64(l.Max) / 1000})
		s.Name, s.Color = fmt.Sprintf("per-delivery latency (p50 %.2f ms, p99 %.2f ms, max %.2f ms, n=%d)", float64(l.P50)/1000, float64(l.P99)/1000, float64(l.Max)/1000, l.Count), "#1f77b4"
		ps = append(ps, chart.Panel{Title: "Latency distribution: publish to delivery", XLabel: "percentile", YLabel: "ms (log)", YLog: true,
			Series: []chart.Series{s}, XTicks: []float64{0, math.Log10(2), 1, 2, 3, 4, 5},
			XTick: func(x float64) string {
				if x >= 5 {
					return "max"
				}
				return trimPct(100 * (1 - math.Pow(10, -x)))
			}})
	}
	if len(r.LastDeliveryMs) > 0 {
		s := chart.Series{Name: "time until the last subscriber got the publish", Color: "#d62728", Bars: true}
		for i, v := range r.LastDeliveryMs {
			s.Pts = append(s.Pts, chart.Point{X: float64(i + 1), Y: v})
		}
		ps = append(ps, chart.Panel{Title: "Fan-out completion per publish", XLabel: "publish #", YLabel: "ms", Series: []chart.Series{s}})
	}
	if len(r.Mem) > 1 {
		rss := chart.Series{Name: "server RSS", Color: "#1f77b4"}
		kern := chart.Series{Name: "kernel: socket slab caches + TCP pages (both loopback ends)", Color: "#ff7f0e"}
		heap := chart.Series{Name: "Go heap in use", Color: "#2ca02c"}
		for _, m := range r.Mem {
			rss.Pts = append(rss.Pts, chart.Point{X: float64(m.Conns), Y: float64(m.RSS) / (1 << 20)})
			kern.Pts = append(kern.Pts, chart.Point{X: float64(m.Conns), Y: float64(m.Kernel) / (1 << 20)})
			if m.Heap >= 0 {
				heap.Pts = append(heap.Pts, chart.Point{X: float64(m.Conns), Y: float64(m.Heap) / (1 << 20)})
			}
		}
		ss := []chart.Series{rss, kern}
		if len(heap.Pts) > 1 {
			ss = append(ss, heap)
		}
		ps = append(ps, chart.Panel{Title: fmt.Sprintf("Memory vs open connections (last idle run, N=%d)", r.N), XLabel: "open connections", YLabel: "MiB", Series: ss})
	}
	if len(r.Points) > 0 {
		u := chart.Series{Name: "user space: RSS delta / N (line: median)", Color: "#1f77b4"}
		k := chart.Series{Name: "kernel: (socket slab + TCP pages) / 2N (line: median)", Color: "#ff7f0e"}
		ud := chart.Series{Name: "each run", Color: "#1f77b4", Dots: true}
		kd := chart.Series{Name: "each run", Color: "#ff7f0e", Dots: true}
		byN := map[int][2][]float64{}
		var order []int
		for _, p := range r.Points {
			ud.Pts = append(ud.Pts, chart.Point{X: float64(p.N), Y: p.UserPer() / 1024})
			kd.Pts = append(kd.Pts, chart.Point{X: float64(p.N), Y: p.KernelPer() / 1024})
			v, seen := byN[p.N]
			if !seen {
				order = append(order, p.N)
			}
			byN[p.N] = [2][]float64{append(v[0], p.UserPer()/1024), append(v[1], p.KernelPer()/1024)}
		}
		for _, n := range order {
			u.Pts = append(u.Pts, chart.Point{X: float64(n), Y: plan.Median(byN[n][0])})
			k.Pts = append(k.Pts, chart.Point{X: float64(n), Y: plan.Median(byN[n][1])})
		}
		ps = append(ps, chart.Panel{Title: "Cost of one idle connection at each N", XLabel: "connections held (N)", YLabel: "KiB per connection", Series: []chart.Series{u, k, ud, kd}})
	}
	return ps
}

func trimPct(p float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", p), "0"), ".")
	return s + "%"
}
