package server

import (
	"math"
	"sync"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// pubBuilder builds one publish's frames, once, when shard knows its offset
// and which encodings its subscribers use. Pooled so that a publish does
// not allocate a builder.
type pubBuilder struct {
	ch, data []byte
	enc      frame.Enc
	err      error
}

var builders = sync.Pool{New: func() any { return new(pubBuilder) }}

// Build makes the frames. They are fresh allocations: they are immutable
// from here on and referenced by every recipient's queue until written.
func (b *pubBuilder) Build(off uint64, need [2]bool) shard.Frames {
	var f shard.Frames
	for e := range need {
		if !need[e] {
			continue
		}
		data := b.data
		if frame.Enc(e) != b.enc {
			var err error
			if data, err = frame.AppendTranscoded(nil, b.data, b.enc, math.MaxInt); err != nil {
				b.err = err
				continue
			}
		}
		dst := make([]byte, 0, len(b.ch)+len(data)+frame.MaxMsgOverhead)
		out, err := frame.AppendMsg(dst, frame.Enc(e), b.ch, off, data)
		if err != nil {
			// Checked before publishing (publish), so this is a bug in
			// conversion; subscribers of this encoding miss this offset.
			b.err = err
			continue
		}
		f[e] = out
	}
	return f
}

// publish validates and hands the message to the shards.
func (s *Server) publish(ss *session, op *frame.Op) error {
	// Refused up front if subscribers of the other encoding could not get it.
	if _, err := frame.TranscodedLen(op.Data, op.Enc, math.MaxInt); err != nil {
		return err
	}
	// Counted before the hub can deliver it (see shard's Publish).
	s.st.publishes.add(ss.pc.Fd(), 1)
	b := builders.Get().(*pubBuilder)
	b.ch, b.data, b.enc, b.err = op.Ch, op.Data, op.Enc, nil
	s.hub.Publish(op.Ch, b)
	err := b.err
	b.ch, b.data = nil, nil
	builders.Put(b)
	if err != nil {
		s.log.Error("publish conversion failed", "err", err)
	}
	return nil
}
