package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/starling-ws/starling/frame"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Pub is one stored publication.
type Pub struct {
	Off  uint64 // stream sequence
	Prev uint64 // the channel's previous stored offset; 0: none stored (or not known)
	Data []byte
	Enc  frame.Enc
}

// Fetch returns ch's stored publications after offset after, oldest
// first, at most max: for a resume whose range this node's hub does not
// hold (it started after it, or evicted the channel). One request to the
// stream (a direct batch get), bounded by FetchTimeout and ctx.
//
// The first one's Prev is after when after is still stored (a channel
// loses messages oldest first, so nothing between them was removed): the
// resume is complete when out[0].Prev == after, or out is empty. Errors
// wrap ErrUnavailable (or are ErrChannel).
func (b *Bus) Fetch(ctx context.Context, ch []byte, after uint64, max int) ([]Pub, error) {
	if !frame.ValidChannel(ch) {
		return nil, ErrChannel
	}
	if max <= 0 {
		return nil, nil
	}
	if ok, why := b.Ready(); !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.FetchTimeout)
	defer cancel()
	subj := string(appendToken([]byte(b.chPrefix), ch))
	start, n := after, max+1 // after itself comes first if still stored
	if after == 0 {
		start, n = 1, max
	}
	it, err := jetstreamext.GetBatch(ctx, b.js, b.cfg.Stream, n, jetstreamext.GetBatchSeq(start), jetstreamext.GetBatchSubject(subj))
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s after %d: %v", ErrUnavailable, ch, after, err)
	}
	out := make([]Pub, 0, max)
	var prev uint64
	for sm, err := range it {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: fetch %s after %d: %v", ErrUnavailable, ch, after, err)
		}
		if sm.Sequence <= after {
			prev = sm.Sequence // after itself: the anchor
			continue
		}
		if len(out) == max {
			break
		}
		enc, ok := encOf(sm.Header)
		if !ok {
			b.st.bad.Add(1)
			prev = sm.Sequence
			continue
		}
		out = append(out, Pub{Off: sm.Sequence, Prev: prev, Data: sm.Data, Enc: enc})
		prev = sm.Sequence
	}
	b.st.fetches.Add(1)
	return out, nil
}

// Stored returns ch's publication at offset off if the stream still holds
// it (false if not, or if off is another channel's). Its Prev is not
// known here (the stream keeps no predecessor with a message) and is 0.
// For a node that must learn where a channel stands before it can resume
// a client there: nothing after the client's offset is stored, and the
// node has not delivered that offset itself (it started after it).
func (b *Bus) Stored(ctx context.Context, ch []byte, off uint64) (Pub, bool, error) {
	if !frame.ValidChannel(ch) {
		return Pub{}, false, ErrChannel
	}
	if ok, why := b.Ready(); !ok {
		return Pub{}, false, fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.FetchTimeout)
	defer cancel()
	subj := string(appendToken([]byte(b.chPrefix), ch))
	it, err := jetstreamext.GetBatch(ctx, b.js, b.cfg.Stream, 1, jetstreamext.GetBatchSeq(off), jetstreamext.GetBatchSubject(subj))
	if err != nil {
		return Pub{}, false, fmt.Errorf("%w: get %s at %d: %v", ErrUnavailable, ch, off, err)
	}
	for sm, err := range it {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return Pub{}, false, fmt.Errorf("%w: get %s at %d: %v", ErrUnavailable, ch, off, err)
		}
		enc, ok := encOf(sm.Header)
		if sm.Sequence != off || !ok {
			break // the next one of ch: off itself is not (or no longer) ch's
		}
		return Pub{Off: off, Data: sm.Data, Enc: enc}, true, nil
	}
	return Pub{}, false, nil
}
