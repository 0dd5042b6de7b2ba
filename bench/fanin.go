package bench

import (
	"context"
	"fmt"
)

// RunFanin: N subscribers over -channels channels, -publishers publishers
// each publishing -publishes messages to its own channel.
func RunFanin(ctx context.Context, o *Opts) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Channels < 1 || o.Publishers < 1 {
		return nil, fmt.Errorf("fanin needs -channels >= 1 and -publishers >= 1")
	}
	s, err := o.open(ctx, o.N+o.Publishers, o.prog())
	if err != nil {
		return nil, err
	}
	defer s.close()
	r := newResult("fanin", o.N)
	r.note(s.t.Note)
	out, err := pubsubRun{subs: o.N, channels: o.Channels, pubs: o.Publishers, count: o.Publishes, prefix: "fi"}.run(ctx, o, s, r)
	if err != nil {
		return nil, err
	}
	r.addf("setup", "%d subscribers over %d channels, %d publishers x %d publishes at %.0f/s total", o.N, o.Channels, o.Publishers, o.Publishes, o.PubRate)
	el := out.elapsed.Seconds()
	if el > 0 {
		r.addf("publishes/s", "%.0f sent, %.0f acked", float64(out.published)/el, float64(out.st.Pubacks)/el)
		r.Figures["publishes_per_s"] = float64(out.published) / el
	}
	out.report(r, o)
	return r, nil
}
