package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// catchBatch is the messages one direct batch get asks for: the server
// answers at most 1024 subjects in one multi-last request, and a batch
// has at most that many channels.
const catchBatch = 1024

// onLive takes one republished message: the live feed carries every stream
// sequence in order, so anything but hw+1 is a gap (fetched first) or a
// duplicate (dropped).
func (b *Bus) onLive(m *nats.Msg) {
	b.st.in.Add(1)
	b.st.inBytes.Add(uint64(len(m.Data)))
	b.dmu.Lock()
	defer b.dmu.Unlock()
	defer b.advanced()
	if !b.synced {
		return // older than the stream position the first sync reads
	}
	seq, ok := parseSeq(m.Header, jetstream.SequenceHeader)
	if !ok || !strings.HasPrefix(m.Subject, b.livePrefix) {
		b.st.bad.Add(1)
		return
	}
	if seq <= b.hw {
		b.st.dups.Add(1)
		return
	}
	if seq > b.hw+1 {
		if err := b.catchUp(seq - 1); err != nil {
			// The next message cannot wait: what could not be fetched is
			// lost here, and its successors' predecessors say so.
			b.st.lost.Add(seq - 1 - b.hw)
			b.log.Warn("cluster: gap not fetched", "from", b.hw+1, "to", seq-1, "err", err)
		}
	}
	b.hw = seq
	prev, ok := parseSeq(m.Header, jetstream.LastSequenceHeader)
	if !ok {
		b.st.bad.Add(1)
		return
	}
	b.deliver(m.Subject[len(b.livePrefix):], seq, prev, m.Data, m.Header)
}

// deliver hands one publication to the sink. Caller holds dmu.
func (b *Bus) deliver(tok string, seq, prev uint64, data []byte, h nats.Header) {
	var ok bool
	b.chbuf, ok = appendChannel(b.chbuf[:0], tok)
	enc, eok := encOf(h)
	if !ok || !eok {
		b.st.bad.Add(1)
		return
	}
	b.st.delivered.Add(1)
	b.sink.Deliver(b.chbuf, seq, prev, b.epoch.Load(), data, enc)
}

// catchUp fetches and delivers the stored messages in (hw, to], in stream
// order, at most MaxCatchup of them (the rest are skipped and counted
// lost). Sequences no longer stored (removed by the limits) are skipped.
// On an error hw stays at the last delivered. Caller holds dmu.
func (b *Bus) catchUp(to uint64) error {
	b.st.gaps.Add(1)
	budget := b.cfg.MaxCatchup
	for b.hw < to {
		if budget <= 0 {
			b.st.lost.Add(to - b.hw)
			b.log.Warn("cluster: catch-up over MaxCatchup: skipped", "from", b.hw+1, "to", to)
			b.hw = to
			b.advanced()
			return nil
		}
		n := int(min(to-b.hw, uint64(catchBatch), uint64(budget)))
		got, err := b.catchBatch(to, n)
		if err != nil {
			return err
		}
		budget -= got
	}
	return nil
}

type stored struct {
	subj string
	seq  uint64
	data []byte
	hdr  nats.Header
}

// catchBatch fetches up to n messages after hw (and at most to) and
// delivers them. Caller holds dmu.
func (b *Bus) catchBatch(to uint64, n int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.FetchTimeout)
	defer cancel()
	from := b.hw + 1
	it, err := jetstreamext.GetBatch(ctx, b.js, b.cfg.Stream, n, jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(b.chAll))
	if err != nil {
		return 0, fmt.Errorf("catch-up from %d: %w", from, err)
	}
	var msgs []stored
	for sm, err := range it {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("catch-up from %d: %w", from, err)
		}
		if sm.Sequence > to {
			break
		}
		msgs = append(msgs, stored{sm.Subject, sm.Sequence, sm.Data, sm.Header})
	}
	if len(msgs) == 0 {
		// Nothing stored in (hw, to]: every one was removed by the limits
		// before this node could fetch it.
		b.st.lost.Add(to - b.hw)
		b.hw = to
		b.advanced()
		return 0, nil
	}
	// Each channel's first message here needs its predecessor: the
	// channel's last message stored at or before hw (one multi-last
	// request for all of them). Later ones follow the previous one here:
	// a channel loses messages oldest first, so nothing between two
	// stored ones was removed.
	last := make(map[string]uint64, len(msgs))
	var firsts []string
	for _, m := range msgs {
		if _, seen := last[m.subj]; !seen {
			last[m.subj] = 0
			firsts = append(firsts, m.subj)
		}
	}
	if b.hw > 0 {
		if err := b.lastBefore(ctx, firsts, b.hw, last); err != nil {
			return 0, err
		}
	}
	for _, m := range msgs {
		if m.seq > b.hw+1 {
			b.st.lost.Add(m.seq - b.hw - 1) // removed before this fetch
		}
		b.hw = m.seq
		b.st.fetched.Add(1)
		if strings.HasPrefix(m.subj, b.chPrefix) {
			b.deliver(m.subj[len(b.chPrefix):], m.seq, last[m.subj], m.data, m.hdr)
		} else {
			b.st.bad.Add(1)
		}
		b.advanced()
		last[m.subj] = m.seq
	}
	// Fewer than asked may be the server's byte bound on one answer, not
	// the end: the caller asks again from the new hw until nothing is left.
	return len(msgs), nil
}

// lastBefore sets last[s], for each subject s, to its last stored sequence
// at or before upTo (left 0 if none).
func (b *Bus) lastBefore(ctx context.Context, subjects []string, upTo uint64, last map[string]uint64) error {
	it, err := jetstreamext.GetLastMsgsFor(ctx, b.js, b.cfg.Stream, subjects, jetstreamext.GetLastMsgsUpToSeq(upTo))
	if err != nil {
		return fmt.Errorf("predecessors up to %d: %w", upTo, err)
	}
	for sm, err := range it {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("predecessors up to %d: %w", upTo, err)
		}
		last[sm.Subject] = sm.Sequence
	}
	return nil
}
