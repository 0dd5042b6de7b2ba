package server

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/starling-ws/starling/frame"
)

// A panic in a callback (a bug: nothing a client sends should reach one)
// is contained to its connection: that connection is closed with 1011, the
// first panic is logged with its stack, later ones are summarised once per
// 10 s with the last value, and every one is counted. The event loop, the
// shard worker and every other connection go on.

// panicked is whether a panic was already logged with its stack.
var stackLogged atomic.Bool

// contain handles a recovered value v in a callback for ss.
func (s *Server) contain(ss *session, where string, v any) {
	fd := 0
	if ss != nil {
		fd = ss.pc.Fd()
	}
	s.st.panics.add(fd, 1)
	if stackLogged.CompareAndSwap(false, true) {
		buf := make([]byte, 16<<10)
		buf = buf[:runtime.Stack(buf, false)]
		s.log.Error("panic contained; connection closed with 1011", "where", where, "panic", fmt.Sprint(v), "stack", string(buf))
	} else {
		s.panicLog.hit(where + ": " + fmt.Sprint(v))
	}
	if ss == nil {
		return
	}
	switch {
	case ss.closeFrom(stOpen, 1011, ByServer):
		ss.pc.CloseAfter(closeInternal)
		s.armGrace(ss)
	case ss.phase() == stHandshake:
		s.reject(ss, &frame.Reject{Status: 500, Reason: "internal"}, nil)
	}
}

// closeInternal is the 1011 close frame.
var closeInternal = frame.AppendClose(nil, 1011, "internal error")

// onHubPanic is told about a panic a shard worker contained (a Payload's
// build, an OnTimer or OnSlow callback).
func (s *Server) onHubPanic(where string, v any, stack []byte) {
	s.st.panics.add(0, 1)
	if stackLogged.CompareAndSwap(false, true) {
		s.log.Error("panic contained in a shard worker", "where", where, "panic", fmt.Sprint(v), "stack", string(stack))
	} else {
		s.panicLog.hit(where + ": " + fmt.Sprint(v))
	}
}
