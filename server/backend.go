package server

import (
	"net/http"
	"time"

	"github.com/starling-ws/starling/api"
	"github.com/starling-ws/starling/frame"
	"github.com/starling-ws/starling/shard"
)

// The server is the HTTP API's Backend (package api owns the HTTP side).
// Its methods run on net/http goroutines, never on an event loop.
var _ api.Backend = (*Server)(nil)

// apiKey picks the counter stripe for what the API does (any int does).
const apiKey = 0

// Publish is a pub op without a connection: the same validation
// (convertible for the other encoding, within -max-message once
// converted), the same payload and frames, offsets and counters
// (s.publish is the op's own path). What a connection adds (the token's
// ch.pub, -max-publish-rate) is per connection; the API key stands for
// the backend.
func (s *Server) Publish(ch, data []byte, enc frame.Enc) (uint64, error) {
	if s.cl != nil {
		return s.cl.publishAPI(ch, data, enc) // the bus's offset, once it acks
	}
	off, code, msg := s.publish(apiKey, ch, data, enc)
	if code == 0 {
		return off, nil
	}
	if code == frame.CodeBadChannel { // api checked the name already; a hub refusal is the client's fault too
		code = http.StatusBadRequest
	}
	return 0, &api.Error{Status: code, Msg: msg}
}

// Disconnect closes every open connection whose token's sub is user with
// code and returns how many it closed.
//
// It scans every connection (hub.Conns) rather than keeping an index from
// user ids to sessions: an index would be resident memory and upkeep on
// every connect, auth op and close (a map entry and a list link per
// authenticated connection, tens of bytes each at 150k connections) to
// speed up a rare admin call, while the scan costs one pointer slice and a
// string comparison per connection only when a backend asks.
func (s *Server) Disconnect(user string, code uint16) int {
	var f []byte // one close frame for all, shared (CloseAfter never modifies it)
	n := 0
	for _, c := range s.hub.Conns() {
		ss, _ := c.Ctx.(*session)
		if ss == nil {
			continue
		}
		g := ss.grant.Load()
		if g == nil || g.User() != user || !ss.closeFrom(stOpen, code, ByServer) {
			continue
		}
		if f == nil {
			f = frame.AppendClose(nil, wsCode(code), "disconnected")
		}
		c.CloseAfter(f)
		s.armGrace(ss)
		n++
	}
	return n
}

// Channels lists at most limit channels whose names start with prefix,
// with their subscriber counts.
func (s *Server) Channels(prefix string, limit int) []api.ChannelInfo {
	list := s.hub.Channels(make([]shard.ChannelCount, 0, min(limit, 1024)), []byte(prefix), limit)
	out := make([]api.ChannelInfo, len(list))
	for i, c := range list {
		out[i] = api.ChannelInfo{Ch: c.Name, Subscribers: c.Subs}
	}
	return out
}

// NodeInfo is GET /api/info: the node's counters (a subset of Stats and
// the hub's, named for a backend).
type NodeInfo struct {
	Connections   int64             `json:"connections"`
	Handshaking   int64             `json:"handshaking"`
	Accepted      uint64            `json:"accepted"`
	Rejected      map[string]uint64 `json:"rejected"`
	Channels      int64             `json:"channels"`
	Subscriptions int64             `json:"subscriptions"`
	Publishes     uint64            `json:"publishes"`
	Deliveries    uint64            `json:"deliveries"`
	MessagesIn    uint64            `json:"messages_in"`
	Authenticated uint64            `json:"authenticated"`
	AuthFailures  map[string]uint64 `json:"auth_failures"`
	Draining      bool              `json:"draining"`
	UptimeSeconds int64             `json:"uptime_seconds"`
}

// Info returns the node's counters.
func (s *Server) Info() any {
	st := s.Stats()
	hs := s.hub.Stats()
	return NodeInfo{
		Connections:   st.Open,
		Handshaking:   st.Handshaking,
		Accepted:      st.Accepted,
		Rejected:      st.Rejected,
		Channels:      hs.Channels,
		Subscriptions: hs.Subscriptions,
		Publishes:     st.Publishes,
		Deliveries:    hs.Deliveries,
		MessagesIn:    st.MessagesIn,
		Authenticated: st.Authenticated,
		AuthFailures:  st.AuthFailures,
		Draining:      s.Draining(),
		UptimeSeconds: int64(time.Since(s.start).Seconds()),
	}
}
