package cluster

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/starling-ws/starling/frame"
)

// The data's encoding travels in one header, so the stored message is the
// data exactly as the client sent it (no envelope to parse on delivery).
const (
	hdrEnc     = "Starling-Enc"
	encJSON    = "json"
	encMsgPack = "msgpack"
)

func encOf(h nats.Header) (frame.Enc, bool) {
	switch h.Get(hdrEnc) {
	case encJSON:
		return frame.JSON, true
	case encMsgPack:
		return frame.MsgPack, true
	}
	return 0, false
}

// Publish hands a publication of data (in encoding enc) on channel ch to
// the bus. It never blocks: if the bus cannot take it now (NATS down, the
// stream not usable, MaxInflight publishes waiting, draining) it returns
// an error wrapping ErrUnavailable and done is not called. Otherwise done
// is called exactly once, from a NATS goroutine, with the offset the
// stream gave the publication, or with an error wrapping ErrUnavailable
// (no ack within PublishTimeout, the connection lost, the stream refused
// it). The publication reaches this node's own Sink through the live feed
// like any other node's, so every node delivers it at the same place in
// the channel's order. data is not retained after Publish returns.
func (b *Bus) Publish(ch, data []byte, enc frame.Enc, done func(off uint64, err error)) error {
	if !frame.ValidChannel(ch) {
		return ErrChannel
	}
	if enc > frame.JSON {
		return fmt.Errorf("cluster: encoding %d", enc)
	}
	if ok, why := b.Ready(); !ok {
		b.st.refused.Add(1)
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	subj := make([]byte, 0, len(b.chPrefix)+len(ch))
	subj = appendToken(append(subj, b.chPrefix...), ch)
	m := &nats.Msg{Subject: string(subj), Data: data, Header: b.encHdr[enc]}
	b.pmu.Lock()
	b.pend[m] = pending{done: done, start: time.Now()}
	b.pmu.Unlock()
	if _, err := b.js.PublishMsgAsync(m, b.pubOpts...); err != nil {
		if b.take(m).done == nil {
			// Already answered (Close swept it): done was called.
			return nil
		}
		b.st.refused.Add(1)
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// take removes m's pending entry; a zero entry if another path answered it.
func (b *Bus) take(m *nats.Msg) pending {
	b.pmu.Lock()
	p, ok := b.pend[m]
	if ok {
		delete(b.pend, m)
	}
	b.pmu.Unlock()
	return p
}

func (b *Bus) onAck(_ jetstream.JetStream, m *nats.Msg, ack *jetstream.PubAck) {
	p := b.take(m)
	if p.done == nil {
		return
	}
	if ack.Stream != b.cfg.Stream {
		// The subject is captured by another stream too: its sequence is
		// not this channel's offset.
		b.st.pubFailed.Add(1)
		p.done(0, fmt.Errorf("%w: acked by stream %q, not %q", ErrUnavailable, ack.Stream, b.cfg.Stream))
		return
	}
	d := time.Since(p.start)
	b.st.published.Add(1)
	b.st.pubNanos.Add(uint64(d))
	if b.cfg.OnPublish != nil {
		b.cfg.OnPublish(d)
	}
	p.done(ack.Sequence, nil)
}

func (b *Bus) onPubErr(_ jetstream.JetStream, m *nats.Msg, err error) {
	p := b.take(m)
	if p.done == nil {
		return
	}
	b.st.pubFailed.Add(1)
	p.done(0, fmt.Errorf("%w: %v", ErrUnavailable, err))
}

// parseSeq reads a decimal header value without allocating.
func parseSeq(h nats.Header, key string) (uint64, bool) {
	v := h[key]
	if len(v) != 1 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	return n, err == nil
}
