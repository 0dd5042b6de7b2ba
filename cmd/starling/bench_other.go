//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

// benchMain: the bench reads /proc and drives its clients through the
// epoll engine, so it runs on Linux only.
func benchMain([]string) int {
	fmt.Fprintf(os.Stderr, "starling bench: Linux only (/proc and epoll); this is %s\n", runtime.GOOS)
	return 1
}
