package bench

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"

	"github.com/starling-ws/starling/bench/plan"
)

// A self-contained SVG: one panel per kind of data the result holds
// (latency percentiles, time until the last subscriber per publish, memory
// against open connections, per-connection cost per N).

type pt struct{ X, Y float64 }

type series struct {
	Name  string
	Color string
	Pts   []pt
	Bars  bool
	Dots  bool // points only, no line
}

type panel struct {
	Title, XLabel, YLabel string
	Series                []series
	// XTick turns an axis value into a label (nil: %g).
	XTick, YTick func(float64) string
	XTicks       []float64 // fixed tick positions (axis units); nil: 5 even ticks
	YLog         bool
}

const (
	chartW = 900
	panelH = 300
)

// WriteChart renders r to path (SVG; an .html path wraps the SVG in a page).
func WriteChart(path string, r *Result) error {
	ps := chartPanels(r)
	if len(ps) == 0 {
		return fmt.Errorf("no chartable data in a %s run", r.Scenario)
	}
	var b strings.Builder
	h := 70 + len(ps)*(panelH+70)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`, chartW, h, chartW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`)
	fmt.Fprintf(&b, `<text x="20" y="30" font-size="18" font-weight="bold">starling bench %s, N=%d</text>`, html.EscapeString(r.Scenario), r.N)
	fmt.Fprintf(&b, `<text x="20" y="50" font-size="12" fill="#555">%s · commit %s · %d CPUs · %s RAM · kernel %s</text>`,
		html.EscapeString(r.Date), html.EscapeString(r.Commit), r.Machine.CPUs, plan.FmtBytes(float64(r.Machine.MemTotal)), html.EscapeString(r.Machine.Kernel))
	for i, p := range ps {
		drawPanel(&b, p, 70, 80+i*(panelH+70), chartW-110, panelH)
	}
	b.WriteString(`</svg>`)
	out := b.String()
	if strings.HasSuffix(path, ".html") {
		out = "<!doctype html><meta charset=utf-8><title>starling bench</title><body style=margin:0>" + out + "</body>"
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func chartPanels(r *Result) []panel {
	var ps []panel
	if l := r.Latency; l != nil && l.Count > 0 {
		// x: "nines" = -log10(1 - p), so 90% -> 1, 99% -> 2, 99.9% -> 3.
		var s series
		for _, c := range l.Curve {
			if c.Pct >= 100 {
				continue
			}
			s.Pts = append(s.Pts, pt{-math.Log10(1 - c.Pct/100), float64(c.US) / 1000})
		}
		s.Pts = append(s.Pts, pt{5, float64(l.Max) / 1000})
		s.Name, s.Color = fmt.Sprintf("per-delivery latency (p50 %.2f ms, p99 %.2f ms, max %.2f ms, n=%d)", float64(l.P50)/1000, float64(l.P99)/1000, float64(l.Max)/1000, l.Count), "#1f77b4"
		ps = append(ps, panel{Title: "Latency distribution: publish to delivery", XLabel: "percentile", YLabel: "ms (log)", YLog: true,
			Series: []series{s}, XTicks: []float64{0, math.Log10(2), 1, 2, 3, 4, 5},
			XTick: func(x float64) string {
				if x >= 5 {
					return "max"
				}
				return trimPct(100 * (1 - math.Pow(10, -x)))
			}})
	}
	if len(r.LastDeliveryMs) > 0 {
		s := series{Name: "time until the last subscriber got the publish", Color: "#d62728", Bars: true}
		for i, v := range r.LastDeliveryMs {
			s.Pts = append(s.Pts, pt{float64(i + 1), v})
		}
		ps = append(ps, panel{Title: "Fan-out completion per publish", XLabel: "publish #", YLabel: "ms", Series: []series{s}})
	}
	if len(r.Mem) > 1 {
		rss := series{Name: "server RSS", Color: "#1f77b4"}
		kern := series{Name: "kernel: socket slab caches + TCP pages (both loopback ends)", Color: "#ff7f0e"}
		heap := series{Name: "Go heap in use", Color: "#2ca02c"}
		for _, m := range r.Mem {
			rss.Pts = append(rss.Pts, pt{float64(m.Conns), float64(m.RSS) / (1 << 20)})
			kern.Pts = append(kern.Pts, pt{float64(m.Conns), float64(m.Kernel) / (1 << 20)})
			if m.Heap >= 0 {
				heap.Pts = append(heap.Pts, pt{float64(m.Conns), float64(m.Heap) / (1 << 20)})
			}
		}
		ss := []series{rss, kern}
		if len(heap.Pts) > 1 {
			ss = append(ss, heap)
		}
		ps = append(ps, panel{Title: fmt.Sprintf("Memory vs open connections (last idle run, N=%d)", r.N), XLabel: "open connections", YLabel: "MiB", Series: ss})
	}
	if len(r.Points) > 0 {
		u := series{Name: "user space: RSS delta / N (line: median)", Color: "#1f77b4"}
		k := series{Name: "kernel: (socket slab + TCP pages) / 2N (line: median)", Color: "#ff7f0e"}
		ud := series{Name: "each run", Color: "#1f77b4", Dots: true}
		kd := series{Name: "each run", Color: "#ff7f0e", Dots: true}
		byN := map[int][2][]float64{}
		var order []int
		for _, p := range r.Points {
			ud.Pts = append(ud.Pts, pt{float64(p.N), p.UserPer() / 1024})
			kd.Pts = append(kd.Pts, pt{float64(p.N), p.KernelPer() / 1024})
			v, seen := byN[p.N]
			if !seen {
				order = append(order, p.N)
			}
			byN[p.N] = [2][]float64{append(v[0], p.UserPer()/1024), append(v[1], p.KernelPer()/1024)}
		}
		for _, n := range order {
			u.Pts = append(u.Pts, pt{float64(n), plan.Median(byN[n][0])})
			k.Pts = append(k.Pts, pt{float64(n), plan.Median(byN[n][1])})
		}
		ps = append(ps, panel{Title: "Cost of one idle connection at each N", XLabel: "connections held (N)", YLabel: "KiB per connection", Series: []series{u, k, ud, kd}})
	}
	return ps
}

func trimPct(p float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", p), "0"), ".")
	return s + "%"
}

func drawPanel(b *strings.Builder, p panel, x0, y0, w, h int) {
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, q := range s.Pts {
			minX, maxX = math.Min(minX, q.X), math.Max(maxX, q.X)
			y := q.Y
			if p.YLog {
				y = math.Log10(math.Max(y, 1e-3))
			}
			minY, maxY = math.Min(minY, y), math.Max(maxY, y)
		}
	}
	if len(p.XTicks) > 0 {
		minX, maxX = math.Min(minX, p.XTicks[0]), math.Max(maxX, p.XTicks[len(p.XTicks)-1])
	}
	if !p.YLog {
		minY = math.Min(minY, 0)
		maxY *= 1.1
	} else {
		minY, maxY = math.Floor(minY), math.Ceil(maxY)
	}
	bars := len(p.Series) > 0 && p.Series[0].Bars
	if bars {
		minX, maxX = minX-0.5, maxX+0.5
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY = minY + 1
	}
	sx := func(x float64) float64 { return float64(x0) + (x-minX)/(maxX-minX)*float64(w) }
	sy := func(y float64) float64 {
		if p.YLog {
			y = math.Log10(math.Max(y, 1e-3))
		}
		return float64(y0+h) - (y-minY)/(maxY-minY)*float64(h)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`, x0, y0-8, html.EscapeString(p.Title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>`, x0, y0, w, h)
	// y grid
	var yt []float64
	if p.YLog {
		for e := minY; e <= maxY; e++ {
			yt = append(yt, math.Pow(10, e))
		}
	} else {
		step := niceStep((maxY - minY) / 5)
		for v := math.Ceil(minY/step) * step; v <= maxY; v += step {
			yt = append(yt, v)
		}
	}
	for _, v := range yt {
		y := sy(v)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e3e3"/>`, x0, x0+w, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#333">%s</text>`, x0-6, y+4, fmtTick(v))
	}
	// x ticks
	xt := p.XTicks
	if xt == nil {
		if bars && maxX-minX <= 30 {
			for v := math.Ceil(minX); v <= maxX; v++ {
				xt = append(xt, v)
			}
		} else {
			step := niceStep((maxX - minX) / 6)
			for v := math.Ceil(minX/step) * step; v <= maxX; v += step {
				xt = append(xt, v)
			}
		}
	}
	for _, v := range xt {
		x := sx(v)
		lab := fmtTick(v)
		if p.XTick != nil {
			lab = p.XTick(v)
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#e3e3e3"/>`, x, x, y0, y0+h)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#333">%s</text>`, x, y0+h+15, html.EscapeString(lab))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#333">%s</text>`, x0+w/2, y0+h+32, html.EscapeString(p.XLabel))
	fmt.Fprintf(b, `<text transform="translate(%d,%d) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">%s</text>`, x0-48, y0+h/2, html.EscapeString(p.YLabel))
	for i, s := range p.Series {
		if s.Bars {
			bw := math.Max(1, float64(w)/(maxX-minX)*0.7)
			for _, q := range s.Pts {
				x, y := sx(q.X), sy(q.Y)
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" opacity="0.8"><title>%.2f</title></rect>`, x-bw/2, y, bw, float64(y0+h)-y, s.Color, q.Y)
			}
		} else if s.Dots {
			for _, q := range s.Pts {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="none" stroke="%s" stroke-width="1.5"><title>%g, %.3f</title></circle>`, sx(q.X), sy(q.Y), s.Color, q.X, q.Y)
			}
			continue // no legend entry of its own
		} else {
			var d strings.Builder
			for j, q := range s.Pts {
				c := "L"
				if j == 0 {
					c = "M"
				}
				fmt.Fprintf(&d, "%s%.1f,%.1f ", c, sx(q.X), sy(q.Y))
			}
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2.5"/>`, d.String(), s.Color)
			for _, q := range s.Pts {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%g, %.3f</title></circle>`, sx(q.X), sy(q.Y), s.Color, q.X, q.Y)
			}
		}
		// legend, top-left inside the plot
		ly := y0 + 18 + i*18
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`, x0+12, ly-6, s.Color)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12" fill="#222">%s</text>`, x0+32, ly, html.EscapeString(s.Name))
	}
}

func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= raw {
			return m * e
		}
	}
	return 10 * e
}

func fmtTick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimF(v/1e6) + "M"
	case a >= 1e4:
		return trimF(v/1e3) + "k"
	case a >= 1 || a == 0:
		return trimF(v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

func trimF(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}
