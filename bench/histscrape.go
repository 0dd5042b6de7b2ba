package bench

import (
	"io"
	"math"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promHist is one scrape of a Prometheus histogram: cumulative counts per
// upper bound, in order.
type promHist struct {
	bounds []float64
	counts []uint64
}

// scrapeHist reads histogram name from the server's /metrics; nil if it
// cannot (no admin listener, or the metric is absent).
func (s *Sampler) scrapeHist(name string) *promHist {
	if s.MetricsURL == "" {
		return nil
	}
	s.client.Timeout = 2 * time.Second
	resp, err := s.client.Get(s.MetricsURL)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 8<<20))
	if err != nil || fams[name] == nil || len(fams[name].GetMetric()) != 1 {
		return nil
	}
	h := fams[name].GetMetric()[0].GetHistogram()
	if h == nil {
		return nil
	}
	ph := &promHist{}
	for _, b := range h.GetBucket() {
		ph.bounds = append(ph.bounds, b.GetUpperBound())
		ph.counts = append(ph.counts, b.GetCumulativeCount())
	}
	ph.bounds = append(ph.bounds, math.Inf(1))
	ph.counts = append(ph.counts, h.GetSampleCount())
	return ph
}

// since is what was observed between an earlier scrape a and h.
func (h *promHist) since(a *promHist) *promHist {
	if h == nil || a == nil || len(a.counts) != len(h.counts) {
		return h
	}
	d := &promHist{bounds: h.bounds, counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - a.counts[i]
	}
	return d
}

func (h *promHist) total() uint64 {
	if h == nil || len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile estimates quantile q (0..1) as Prometheus' histogram_quantile
// does: linear within the bucket that holds it. Seconds; NaN if empty.
func (h *promHist) quantile(q float64) float64 {
	n := h.total()
	if n == 0 {
		return math.NaN()
	}
	rank := q * float64(n)
	lower, below := 0.0, uint64(0)
	for i, c := range h.counts {
		if float64(c) >= rank {
			upper := h.bounds[i]
			if math.IsInf(upper, 1) {
				return lower // beyond the last bound: its lower edge
			}
			in := c - below
			if in == 0 {
				return upper
			}
			return lower + (upper-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}
