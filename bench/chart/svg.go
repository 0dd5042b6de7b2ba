package chart

import (
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

// Point is one datum, in axis units.
type Point struct{ X, Y float64 }

// Series is one line, set of bars or set of dots in a panel.
type Series struct {
	Name  string
	Color string
	Pts   []Point
	Bars  bool
	Dots  bool // points only, no line and no legend entry
}

// Panel is one plot with its axes.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
	// XTick turns an x axis value into a label (nil: a short number).
	XTick  func(float64) string
	XTicks []float64 // fixed x tick positions (axis units); nil: even ticks
	YLog   bool
}

const (
	width  = 900
	panelH = 300
)

// Write renders the panels, one under the other below a title and a
// subtitle, as a self-contained SVG at path; a path ending in .html gets
// the SVG wrapped in a page.
func Write(path, title, subtitle string, ps []Panel) error {
	if len(ps) == 0 {
		return errors.New("chart: no panels")
	}
	var b strings.Builder
	h := 70 + len(ps)*(panelH+70)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`, width, h, width, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`)
	fmt.Fprintf(&b, `<text x="20" y="30" font-size="18" font-weight="bold">%s</text>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="20" y="50" font-size="12" fill="#555">%s</text>`, html.EscapeString(subtitle))
	for i, p := range ps {
		drawPanel(&b, p, 70, 80+i*(panelH+70), width-110, panelH)
	}
	b.WriteString(`</svg>`)
	out := b.String()
	if strings.HasSuffix(path, ".html") {
		out = "<!doctype html><meta charset=utf-8><title>starling bench</title><body style=margin:0>" + out + "</body>"
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func drawPanel(b *strings.Builder, p Panel, x0, y0, w, h int) {
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
