// Package client is the Go client for Starling: one logical connection that
// reconnects by itself (exponential backoff with full jitter), resumes every
// channel where it left off (sub with since = the last offset and epoch it
// delivered), drops duplicates, checks liveness with the app-level ping op,
// and gets and refreshes its token through a GetToken callback (the auth op).
// Go backends and the project's tests use it alike.
//
// It is a top-level package, not under bench/ or internal/, because it is
// public API: applications import it, and it talks to a server only through
// the wire protocol (docs/protocol.md), like any other client.
//
// Invariants:
//   - One goroutine (run) owns the connection's lifetime: dial, auth,
//     resubscribe, ping, token refresh, backoff. Per connection one reader
//     goroutine decodes frames and updates each subscription's position
//     before it reads the next frame, so a position is never behind a
//     message it has queued, and a resubscription never asks for a
//     message twice.
//   - One dispatcher goroutine calls the application (message handlers and
//     OnEvent) in the order the reader saw things: a channel's messages in
//     offset order, its Subscribed event before the messages it announces.
//   - Writes to a socket are serialized by the connection's write mutex;
//     Client.mu is never held across a socket write or a callback.
//
// It must never hand the application a message twice or out of order, never
// reconnect without a delay drawn from the backoff policy, and never retry
// forever on 4403 or on a 4401 that a fresh token did not cure.
package client
