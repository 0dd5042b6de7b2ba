// Package stripe is the one striped counter: a counter spread over padded
// cells so that goroutines on different cores that count at once (event
// loops, fan-out workers) do not fight over one cache line, folded into a
// single value only when read (a scrape, Stats).
//
// It must never take a lock, allocate, or promise more than a sum that may
// be a few updates stale while writers run.
package stripe
