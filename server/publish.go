package server

import (
	"errors"
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
		dst := make([]byte, 0, len(b.ch)+len(b.data)+frame.MaxMsgOverhead)
		out, err := frame.AppendMsg(dst, frame.Enc(e), b.ch, off, b.data, b.enc)
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

var (
	errNotJSON    = errors.New("data is not representable in JSON (ext type, non-string map key or non-finite float)")
	errNotMsgPack = errors.New("data is not representable in MessagePack (number out of range)")
)

// publish validates and hands the message to the shards.
func (s *Server) publish(ss *session, op *frame.Op) error {
	if op.Enc == frame.MsgPack && !frame.JSONCompatible(op.Data) {
		return errNotJSON
	}
	if op.Enc == frame.JSON && !frame.MsgPackCompatible(op.Data) {
		return errNotMsgPack
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
