// Package frame owns the WebSocket protocol (RFC 6455, on github.com/gobwas/ws),
// permessage-deflate (RFC 7692, on github.com/klauspost/compress/flate) and
// Starling's application messages (MessagePack on binary frames, JSON on
// text frames), including conversion between the two. It turns bytes into
// events and values into bytes.
//
// Compression keeps no state with a connection: negotiation always asks
// for no context takeover both ways, a publish is compressed once for all
// its subscribers, and compressors and inflaters are borrowed from pools
// for one call.
//
// It must never touch a socket, a lock shared with other packages, or a
// clock: callers hand it bytes and buffers (AppendX(dst, ...) style) and it
// hands back bytes, events and close codes.
//
// Ownership: a slice given to Decoder.Feed belongs to the caller for the
// duration of the call and may be unmasked in place. Only an incomplete
// frame tail, or a fragmented message being reassembled, is copied, into a
// pooled buffer that returns to the pool the moment it completes. An
// Upgrade's spans alias the request buffer given to ParseUpgrade; only its
// Key is a copy, safe to use after that buffer is reused.
package frame
