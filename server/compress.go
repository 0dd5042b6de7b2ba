package server

import (
	"strings"

	"github.com/gobwas/ws"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/internal/bufpool"
	"github.com/starling-ws/starling/shard"
)

// permessage-deflate (RFC 7692) without compression state per connection
// (issue 12). What a connection keeps is one bit, the decoder's deflate
// flag: it says the client may send compressed messages and puts the
// connection's subscriptions in shard's Compressed class. Everything else
// is borrowed for one call:
//
//   - Out: a publish's frame for a Compressed class is built once, on the
//     shard worker that first needs it (Payload.Frame), from one
//     compression of the data part per encoding with a pooled compressor
//     (frame.AppendDeflatedPart: klauspost/compress level 5, at most
//     frame.DeflaterBytes of state, in use only while a publish is
//     compressed: one per shard worker at most, plus what the pool parks
//     per P). The msg prefix goes in front in a stored block. Data under
//     -compress-min, or that does not shrink, declines: those subscribers
//     share the plain frame (shard.Payload).
//   - In: a compressed client message is inflated into a pooled buffer
//     with a pooled inflater (frame.AppendInflate), bounded by -max-message
//     while inflating (1009 beyond), then handled like any message; both
//     go back before the call ends.
//
// Replies (ack, err, pong) and control frames are never compressed: they
// are small and built per connection.
//
// History keeps whichever frames a publication's subscribers made it build
// (plain, compressed, or both), rather than dropping the compressed one
// and compressing again for each replay: on 1 KiB chat JSON the compressed
// frame adds about a fifth to a retained publication's charge, while a
// rebuild would cost a shard worker a compression (about three plain
// publishes' worth of its time) per replayed publication, and replays come
// in bursts after a reconnect storm, when the workers are busiest. A
// channel whose subscribers all compress never builds the plain frame.
// Figures: BenchmarkHistoryFrames, in docs/benchmarks.md#compression.

// DefaultCompressMin is -compress-min's default. Compressing costs a few
// µs per publish whatever the size, and below 256 B of JSON it saves a
// fifth of the bytes or less (frame's BenchmarkDeflateSmall, in
// docs/benchmarks.md#compression).
const DefaultCompressMin = 256

// negotiateDeflate answers the client's permessage-deflate offers: the
// extension element for the 101 (nil: none, served uncompressed). A
// negotiated session's decoder accepts compressed messages from now on.
// u's offers alias the request buffer: call it before that goes back.
func (s *Server) negotiateDeflate(ss *session, u *frame.Upgrade) []byte {
	if !s.cfg.Compress {
		return nil
	}
	ext, ok := frame.NegotiateDeflate(u.Extensions.All())
	if !ok {
		return nil
	}
	ss.dec.EnableDeflate()
	s.st.deflated.add(ss.pc.Fd(), 1)
	return ext
}

// class is the frame class this connection's msgs use for a subscription
// made in enc.
func (ss *session) class(enc frame.Enc) shard.Class {
	c := shard.Class(enc)
	if ss.dec.Deflate() {
		c |= shard.Compressed
	}
	return c
}

// deflated builds the compressed msg frame for data (already in enc), or
// returns nil when it is under -compress-min or does not shrink (the
// shard then sends the plain frame). The compression runs in a pooled
// buffer; the frame is one exact allocation, like the plain one.
func (p *payload) deflated(enc frame.Enc, data []byte, ch string, off uint64) []byte {
	s := p.srv
	zb := bufpool.Get(frame.DeflateRoom + len(data) + 1)
	part, ok := frame.AppendDeflatedPart(zb[:0], enc, data, s.cfg.CompressMin)
	if !ok {
		bufpool.Put(zb)
		s.st.declined.add(int(off), 1)
		return nil
	}
	s.st.compressions.add(int(off), 1)
	f := frame.FinishDeflatedMsg(part, frame.DeflateRoom, enc, []byte(ch), off)
	out := append(make([]byte, 0, len(f)), f...)
	bufpool.Put(zb)
	return out
}

var closeBadDeflate = frame.AppendClose(nil, ws.StatusInvalidFramePayloadData, "invalid deflate data")

// CompressedMessage inflates a compressed client message (RSV1) and
// handles it like any other (frame.DeflateHandler).
func (ss *session) CompressedMessage(text bool, p []byte) {
	s := ss.srv
	if ss.phase() != stOpen {
		return
	}
	limit := s.cfg.MaxMessage
	buf := bufpool.Get(min(max(4*len(p), 1<<10), limit+1))
	out, f := frame.AppendInflate(buf[:0], p, text, limit)
	if f != nil {
		bufpool.Put(out)
		if f.Code == ws.StatusInvalidFramePayloadData && strings.HasPrefix(f.Reason, "invalid deflate") {
			s.failWith(ss, uint16(f.Code), closeBadDeflate) // not the prebuilt 1007's "invalid utf-8"
			return
		}
		s.fail(ss, uint16(f.Code), f.Reason)
		return
	}
	s.st.inflated.add(ss.pc.Fd(), 1)
	ss.Message(text, out)
	bufpool.Put(out)
}
