package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/starling-ws/starling/bench/plan"
)

// Row is one line of the printed table.
type Row struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Latency summarises a histogram (microseconds).
type Latency struct {
	Count int64     `json:"count"`
	P50   int64     `json:"p50_us"`
	P90   int64     `json:"p90_us"`
	P99   int64     `json:"p99_us"`
	P999  int64     `json:"p999_us"`
	Max   int64     `json:"max_us"`
	Mean  float64   `json:"mean_us"`
	Curve []PctPair `json:"curve"` // for the chart
}

// PctPair is a point of the percentile curve.
type PctPair struct {
	Pct float64 `json:"pct"`
	US  int64   `json:"us"`
}

func summarize(h *hdr.Histogram) *Latency {
	l := &Latency{Count: h.TotalCount(), P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean()}
	for _, p := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100} {
		l.Curve = append(l.Curve, PctPair{p, h.ValueAtQuantile(p)})
	}
	return l
}

// MemPoint is the server's memory at a connection count (idle ramp).
type MemPoint struct {
	Conns  int64 `json:"conns"`
	RSS    int64 `json:"rss_bytes"`
	Kernel int64 `json:"kernel_bytes"` // Δ(slab + tcp mem) since the base, both ends
	Heap   int64 `json:"heap_bytes"`   // -1 unknown
}

// Result is one scenario run: a table, figures for JSON and the chart data.
type Result struct {
	Scenario string             `json:"scenario"`
	N        int                `json:"n"`
	Date     string             `json:"date"`
	Command  string             `json:"command"`
	Commit   string             `json:"git_commit"`
	Machine  plan.Machine       `json:"machine"`
	Rows     []Row              `json:"rows"`
	Figures  map[string]float64 `json:"figures"`
	Latency  *Latency           `json:"latency,omitempty"`
	// LastDeliveryMs[i]: time until the last subscriber got publish i.
	LastDeliveryMs []float64          `json:"last_delivery_ms,omitempty"`
	Mem            []MemPoint         `json:"mem,omitempty"`
	Points         []plan.IdlePoint   `json:"points,omitempty"`
	Floor          *plan.FloorFigures `json:"floor,omitempty"`
	Notes          []string           `json:"notes,omitempty"`
	Samples        []Sample           `json:"-"`
}

func newResult(scenario string, n int) *Result {
	return &Result{Scenario: scenario, N: n, Date: nowDate(), Commit: gitCommit(), Machine: ThisMachine(),
		Command: "starling bench " + strings.Join(os.Args[2:], " "), Figures: map[string]float64{}}
}

func (r *Result) addf(k, f string, a ...any) { r.Rows = append(r.Rows, Row{k, fmt.Sprintf(f, a...)}) }

func (r *Result) note(s string) {
	if s != "" {
		r.Notes = append(r.Notes, s)
	}
}

// WriteTable prints the result for a person.
func (r *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "starling bench %s  N=%d  %s  commit %s  (%d CPUs, %s)\n", r.Scenario, r.N, r.Date, r.Commit, r.Machine.CPUs, plan.FmtBytes(float64(r.Machine.MemTotal)))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row.Key, row.Value)
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(tw, "  latency (µs)\tp50 %d  p90 %d  p99 %d  p99.9 %d  max %d  mean %.0f  (n=%d)\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// WriteJSON writes the result to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
