// Package loadclient is what a bench worker process runs: WebSocket client
// connections on the poller's epoll engine (no goroutine per connection),
// dialled at a pace from given source addresses, that upgrade (with a
// token of their own when the dial carries a TokenSpec: token.go),
// subscribe, answer pings, publish messages carrying their send time, and
// record the latency of every push in an HDR histogram. A retrying dial's
// connections dial again after a 503's Retry-After (admission.go). Resume
// subscribers also track their channel's offset and epoch, count lost and
// repeated offsets, and take over a cut connection's position with since
// (resume.go). Main is the hidden `starling bench worker` role;
// bench/worker carries its commands.
//
// It is its own package so the scenarios (bench/) see a worker only through
// the protocol, and a worker never sees a scenario. It must never block an
// engine callback (OnData parses in place and writes with WriteCopy), keep a
// goroutine per connection, or dial without a count and a pace.
package loadclient
