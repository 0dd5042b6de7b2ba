package server

import (
	"errors"
	"sync"

	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// payload is one publish: the data as it arrived (copied out of the read
// buffer, in its encoding), from which a shard worker builds each class's
// frame once, the first time a subscriber of that class needs it. So the
// conversion between encodings runs on a worker, outside every lock the
// event loops take, and only for classes that have subscribers; its size
// was checked against -max-message when the publish arrived.
type payload struct {
	data []byte
	enc  frame.Enc
	srv  *Server // its Config (-max-message bounds the converted data) and counters
}

// newPayload copies data, a publish in enc, for the hub.
func (s *Server) newPayload(data []byte, enc frame.Enc) *payload {
	return &payload{data: append([]byte(nil), data...), enc: enc, srv: s}
}

func (p *payload) Size() int { return len(p.data) }

// scratch holds converted data while its frame is built (one per worker
// at a time; the frame itself is a fresh, exact allocation).
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Frame builds the complete msg frame for class cls; for a Compressed
// class, nil when compressing is not worth it (compress.go).
func (p *payload) Frame(cls shard.Class, ch string, off uint64) []byte {
	enc := frame.Enc(cls & 1)
	data := p.data
	if enc != p.enc {
		sb := scratch.Get().(*[]byte)
		defer scratch.Put(sb)
		var err error
		if data, err = frame.AppendTranscoded((*sb)[:0], p.data, p.enc, p.srv.cfg.MaxMessage); err != nil {
			// Checked when the publish arrived, so a failure here is a
			// conversion bug; this class's subscribers miss this offset.
			return nil
		}
		*sb = data[:0]
	}
	if cls&shard.Compressed != 0 {
		return p.deflated(enc, data, ch, off)
	}
	out, err := frame.AppendMsg(make([]byte, 0, len(ch)+len(data)+frame.MaxMsgOverhead), enc, []byte(ch), off, data)
	if err != nil {
		return nil
	}
	return out
}

// publish validates a pub and hands it to the hub. It returns the offset
// taken, or the err reply's code and message. Data that subscribers of the
// other encoding could not receive (not representable, or larger than
// -max-message once converted) is refused here, whether or not such
// subscribers exist now, so that no subscriber silently misses an offset.
func (s *Server) publish(fd int, ch, data []byte, enc frame.Enc) (uint64, int, string) {
	if code, msg := s.checkPub(data, enc); code != 0 {
		return 0, code, msg
	}
	// Counted before the hub can deliver it (see shard's Publish).
	s.st.publishes.add(fd, 1)
	off, err := s.hub.Publish(ch, s.newPayload(data, enc))
	switch err {
	case nil:
		return off, 0, ""
	case shard.ErrBusy:
		s.st.busy.add(fd, 1)
	}
	code, msg := hubErr(err)
	return 0, code, msg
}

// checkPub refuses data that subscribers of the other encoding could not
// receive (see publish): the err reply's code and message, 0 if fine.
func (s *Server) checkPub(data []byte, enc frame.Enc) (int, string) {
	if _, err := frame.TranscodedLen(data, enc, s.cfg.MaxMessage); err != nil {
		var ce *frame.ConvError
		if errors.As(err, &ce) {
			return ce.Code, ce.Msg
		}
		return frame.CodeBadRequest, err.Error()
	}
	return 0, ""
}

// CodeUnavailable is the err code for a publish the server cannot take
// now (stopping; with a cluster, the bus is down).
const CodeUnavailable = 503
