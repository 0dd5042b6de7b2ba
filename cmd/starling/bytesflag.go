package main

import (
	"fmt"
	"strconv"

	"github.com/starling-ws/starling/bench/plan"
)

// bytesValue is a flag.Value for a byte count: a plain number, or one with
// a unit (64KiB, 256MiB, 1GiB, 1.5GB).
type bytesValue struct{ p *int64 }

func (b bytesValue) String() string {
	if b.p == nil {
		return "0"
	}
	return strconv.FormatInt(*b.p, 10)
}

// intBytes is bytesValue for an int.
type intBytes struct{ p *int }

func (b intBytes) String() string {
	if b.p == nil {
		return "0"
	}
	return strconv.Itoa(*b.p)
}

func (b intBytes) Set(s string) error {
	var n int64
	if err := (bytesValue{&n}).Set(s); err != nil {
		return err
	}
	if n > 1<<40 {
		return fmt.Errorf("size %q too large", s)
	}
	*b.p = int(n)
	return nil
}

func (b bytesValue) Set(s string) error {
	n, err := plan.ParseBytes(s)
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("negative size %q", s)
	}
	*b.p = n
	return nil
}
