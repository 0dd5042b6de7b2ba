package bench

import (
	"context"
	"fmt"
)

// RunBroadcast: N subscribers on one channel, R publishes of P bytes.
// With -compress it runs twice, on a fresh server each when spawning:
// plain subscribers, then subscribers that all offer permessage-deflate
// (as browsers do), and reports both side by side with the ratios of
// bytes on the wire and server CPU per delivery. The profile (-profile)
// takes the plain run's CPU per delivery.
func RunBroadcast(ctx context.Context, o *Opts) (*Result, error) {
	if !o.Compress {
		return broadcastOnce(ctx, o, false)
	}
	plain, err := broadcastOnce(ctx, o, false)
	if err != nil {
		return nil, fmt.Errorf("plain run: %w", err)
	}
	oc := *o
	oc.Profile = ""
	comp, err := broadcastOnce(ctx, &oc, true)
	if err != nil {
		return nil, fmt.Errorf("compressed run: %w", err)
	}
	return sideBySide(plain, comp), nil
}

// sideBySide merges the plain and compressed results: each one's rows and
// figures under its name, then the comparison. The latency and chart data
// are the compressed run's.
func sideBySide(plain, comp *Result) *Result {
	r := comp
	rows, figs := r.Rows, r.Figures
	r.Rows, r.Figures = nil, map[string]float64{}
	for _, x := range []struct {
		name string
		rows []Row
		figs map[string]float64
	}{{"plain", plain.Rows, plain.Figures}, {"compressed", rows, figs}} {
		for _, row := range x.rows {
			r.Rows = append(r.Rows, Row{x.name + ": " + row.Key, row.Value})
		}
		for k, v := range x.figs {
			r.Figures[x.name+"_"+k] = v
		}
	}
	r.Notes = append(plain.Notes, r.Notes...)
	if figs["compressed_frames"] == 0 {
		r.note("no frame arrived compressed: is the server's -compress off, or -size under its -compress-min?")
	}
	ratio := func(k string) float64 {
		if plain.Figures[k] == 0 {
			return 0
		}
		return figs[k] / plain.Figures[k]
	}
	r.addf("compressed vs plain", "wire %.0f vs %.0f B per delivery (x%.2f); server CPU %.2f vs %.2f µs per delivery (x%.2f)",
		figs["wire_bytes_per_delivery"], plain.Figures["wire_bytes_per_delivery"], ratio("wire_bytes_per_delivery"),
		figs["cpu_us_per_delivery"], plain.Figures["cpu_us_per_delivery"], ratio("cpu_us_per_delivery"))
	r.Figures["wire_ratio"], r.Figures["cpu_ratio"] = ratio("wire_bytes_per_delivery"), ratio("cpu_us_per_delivery")
	return r
}
