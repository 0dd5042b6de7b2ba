package shard

import "strings"

// ChannelCount is one channel as Channels lists it.
type ChannelCount struct {
	Name string // a copy
	Subs int    // subscribers, joins not yet served included
}

// Channels appends to dst the channels whose names start with prefix (nil
// or empty: every channel), at most limit of them (limit <= 0: no bound),
// in no particular order, and returns dst. A channel kept only for its
// history is listed with 0 subscribers.
//
// Read-only, for an admin path (the HTTP API), never a hot one: it takes
// one stripe lock at a time and walks that stripe's table under it, so a
// publish on the stripe waits for one stripe's walk at most.
func (h *Hub) Channels(dst []ChannelCount, prefix []byte, limit int) []ChannelCount {
	n := 0
	for i := range h.stripes {
		st := &h.stripes[i]
		st.mu.Lock()
		for _, c := range st.tab.slots {
			if limit > 0 && n == limit {
				break
			}
			if c == nil || !strings.HasPrefix(c.name(), string(prefix)) {
				continue
			}
			subs := 0
			for g := &c.home; g != nil; g = g.next {
				subs += int(g.cnt)
			}
			dst = append(dst, ChannelCount{Name: strings.Clone(c.name()), Subs: subs})
			n++
		}
		st.mu.Unlock()
		if limit > 0 && n == limit {
			break
		}
	}
	return dst
}
