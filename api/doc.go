// Package api is the HTTP API for backends, on its own listener
// (-api-addr, net/http): publish, broadcast, disconnect a user's
// connections, list channels, read node counters. The server side is the
// Backend interface (implemented by package server); this package owns
// only the HTTP surface: routing, API keys, body limits, decoding and
// encoding (JSON, or MessagePack when the request says so).
//
// Request handling order, so a request with several faults gets the first:
// unknown path (404), wrong method (405, with Allow), missing or wrong key
// (401), body over the limit (413), malformed body (400 with a reason),
// then the Backend's own refusals (400/413/429/503 as *Error).
//
// It must never buffer more than the configured body limit (+1 byte to
// detect overflow) per request, never let a decoder size an allocation
// from a declared length that the bytes received do not back (see
// decode), never compare keys
// in variable time, and never call the Backend for a request that failed
// any check above. It must not touch WebSocket connections: everything
// reaches them through the Backend.
package api
