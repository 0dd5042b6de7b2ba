package server

import (
	"errors"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// payload is one publish: the data as it arrived (copied out of the read
// buffer, in its encoding), from which a shard worker builds each class's
// frame once, the first time a subscriber of that class needs it. So the
// conversion between encodings runs on a worker, outside every lock the
// event loops take, and only for classes that have subscribers.
type payload struct {
	data []byte
	enc  frame.Enc
}

func (p *payload) Size() int { return len(p.data) }

// Frame builds the complete msg frame for class cls.
func (p *payload) Frame(cls shard.Class, ch string, off uint64) []byte {
	enc := frame.Enc(cls & 1)
	dst := make([]byte, 0, len(ch)+len(p.data)+frame.MaxMsgOverhead)
	out, err := frame.AppendMsg(dst, enc, []byte(ch), off, p.data, p.enc)
	if err != nil {
		// Checked when the publish arrived (publish), so a failure here is
		// a conversion bug; this class's subscribers miss this offset.
		return nil
	}
	return out
}

var (
	errNotJSON    = errors.New("data is not representable in JSON (ext type, non-string map key or non-finite float)")
	errNotMsgPack = errors.New("data is not representable in MessagePack (number out of range)")
)

// publish validates a pub and hands it to the hub. It returns the offset
// taken, or the err reply's code and message.
func (s *Server) publish(fd int, ch, data []byte, enc frame.Enc) (uint64, int, string) {
	if enc == frame.MsgPack && !frame.JSONCompatible(data) {
		return 0, frame.CodeBadRequest, errNotJSON.Error()
	}
	if enc == frame.JSON && !frame.MsgPackCompatible(data) {
		return 0, frame.CodeBadRequest, errNotMsgPack.Error()
	}
	// Counted before the hub can deliver it (see shard's Publish).
	s.st.publishes.add(fd, 1)
	p := &payload{data: append([]byte(nil), data...), enc: enc}
	off, err := s.hub.Publish(ch, p)
	switch err {
	case nil:
		return off, 0, ""
	case shard.ErrBusy:
		s.st.busy.add(fd, 1)
		return 0, frame.CodeTooMany, "server busy: fan-out queue full, retry"
	case shard.ErrTooManyChannels:
		return 0, frame.CodeTooMany, "channel limit reached (-max-channels)"
	default:
		return 0, CodeUnavailable, "server stopping"
	}
}

// CodeUnavailable is the err code for a publish the server cannot take
// now (stopping; with a cluster, the bus is down).
const CodeUnavailable = 503
