package chart

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The output is well-formed XML that carries each panel's title, the
// escaped title and subtitle, and one element per point; an .html path
// wraps the same SVG; the same panels draw the same bytes.
func TestWriteDrawsEveryPanel(t *testing.T) {
	ps := []Panel{
		{Title: "Lines & dots", XLabel: "x", YLabel: "y", Series: []Series{
			{Name: "line", Color: "#1f77b4", Pts: []Point{{X: 1, Y: 1}, {X: 2, Y: 4}, {X: 3, Y: 9}}},
			{Name: "dots", Color: "#ff7f0e", Dots: true, Pts: []Point{{X: 1, Y: 2}, {X: 3, Y: 3}}},
		}},
		{Title: "Bars", Series: []Series{{Name: "b", Color: "#d62728", Bars: true, Pts: []Point{{X: 1, Y: 0.5}, {X: 2, Y: 7}}}}},
		{Title: "Log", YLog: true, XTicks: []float64{0, 1, 2}, XTick: func(x float64) string { return "t" },
			Series: []Series{{Name: "l", Color: "#2ca02c", Pts: []Point{{X: 0, Y: 0.01}, {X: 2, Y: 1000}}}}},
	}
	dir := t.TempDir()
	svg, page := filepath.Join(dir, "c.svg"), filepath.Join(dir, "c.html")
	for _, p := range []string{svg, page} {
		if err := Write(p, "a <title>", "sub & title", ps); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(svg)
	d := xml.NewDecoder(strings.NewReader(string(b)))
	circles, rects, paths := 0, 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "circle":
				circles++
			case "rect":
				rects++
			case "path":
				paths++
			}
		}
	}
	// circles: 3 on the line, 2 dots, 2 on the log line; paths: two lines;
	// rects: background, 3 plot areas, 2 bars, 3 legend swatches.
	if circles != 7 || paths != 2 || rects != 9 {
		t.Fatalf("%d circles, %d paths, %d rects", circles, paths, rects)
	}
	s := string(b)
	for _, w := range []string{"Lines &amp; dots", "Bars", "a &lt;title&gt;", "sub &amp; title", ">t<"} {
		if !strings.Contains(s, w) {
			t.Errorf("SVG lacks %q", w)
		}
	}
	h, _ := os.ReadFile(page)
	if !strings.HasPrefix(string(h), "<!doctype html>") || !strings.Contains(string(h), s) {
		t.Error("the .html page does not wrap the same SVG")
	}
	again := filepath.Join(dir, "again.svg")
	_ = Write(again, "a <title>", "sub & title", ps)
	if b2, _ := os.ReadFile(again); string(b2) != s {
		t.Error("the same panels drew different bytes")
	}
	if err := Write(filepath.Join(dir, "none.svg"), "t", "s", nil); err == nil {
		t.Error("no error for no panels")
	}
}
