// Package wsframe is the one WebSocket client framer: it appends a masked
// client frame to a caller's buffer and reads the header of a server frame
// from the front of a byte slice. The load generator's worker clients
// (bench/loadclient), the raw test client (internal/wstest) and the Go
// client (client/) build their frames here.
//
// It sits in internal/ because only Starling's own packages speak as a
// client through it (client/ exposes no frame); the server decodes client frames in frame/, which must never
// import this package (a server never masks). It must never hold state,
// read from a socket or allocate beyond growing the caller's buffer.
package wsframe
