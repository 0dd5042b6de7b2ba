// Package wsframe is the one WebSocket client framer: it appends a masked
// client frame to a caller's buffer and reads the header of a server frame
// from the front of a byte slice. The load generator's worker clients
// (bench/loadclient) and the raw test client (internal/wstest) both build
// their frames here.
//
// It sits in internal/ because only Starling's own tools and tests speak as
// a client; the server decodes client frames in frame/, which must never
// import this package (a server never masks). It must never hold state,
// read from a socket or allocate beyond growing the caller's buffer.
package wsframe
