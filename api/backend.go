package api

import "github.com/starling-ws/starling/frame"

// Backend is the node, as the API sees it. package server implements it.
// Methods are called from net/http's goroutines, concurrently.
type Backend interface {
	// Publish publishes data on ch exactly like a pub op (same frames,
	// offsets and metrics) and returns the message's offset. data is one
	// complete, well-formed value in enc; it is valid only during the call.
	// ch is a valid channel name (frame.ValidChannel). Refusals the client
	// can act on are *Error (400 not convertible, 413 converted data too
	// large, 429 fan-out queue full, 503 cluster bus unavailable).
	Publish(ch, data []byte, enc frame.Enc) (off uint64, err error)
	// Disconnect closes every connection whose token's sub is user with
	// close code (4000-4999) and returns how many it closed.
	Disconnect(user string, code uint16) int
	// Channels lists at most limit channels whose names start with prefix
	// ("" for all), in any order, with their subscriber counts.
	Channels(prefix string, limit int) []ChannelInfo
	// Info returns the node's counters, a value encodable as JSON and
	// MessagePack (struct fields tagged `json:"..."` serve both).
	Info() any
}

// ChannelInfo is one entry of GET /api/channels.
type ChannelInfo struct {
	Ch          string `json:"ch"`
	Subscribers int    `json:"subs"`
}

// Error is a refusal a Backend returns for the client: Status is the HTTP
// status (400, 413, 429 or 503; anything else is answered 500) and Msg the
// reason sent in the body. Any other error is an internal error: 500,
// logged, its text not sent.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }
