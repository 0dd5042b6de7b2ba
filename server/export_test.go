package server

import "github.com/starling-ws/starling/frame"

// SetTestHookMessage installs f to run on every decoded op (nil removes
// it), for tests that need a callback to panic.
func SetTestHookMessage(f func(op *frame.Op)) { testHookMessage = f }
