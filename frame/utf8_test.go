package frame

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// randomText mixes valid runes of every length with random bytes, so both
// verdicts are common.
func randomText(rng *rand.Rand, n int) []byte {
	var b []byte
	for len(b) < n {
		switch rng.IntN(6) {
		case 0:
			b = append(b, byte(rng.IntN(256)))
		case 1:
			b = utf8.AppendRune(b, rune(rng.IntN(0x80)))
		case 2:
			b = utf8.AppendRune(b, rune(0x80+rng.IntN(0x800-0x80)))
		case 3:
			b = utf8.AppendRune(b, rune(0x800+rng.IntN(0x10000-0x800)))
		case 4:
			b = utf8.AppendRune(b, rune(0x10000+rng.IntN(0x110000-0x10000)))
		case 5:
			b = append(b, "plain ascii run"...)
		}
	}
	return b
}

func TestUTF8AgainstStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	valid := 0
	for i := range 20000 {
		var b []byte
		if i%2 == 0 {
			b = randomText(rng, rng.IntN(40))
		} else {
			b = make([]byte, rng.IntN(12))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
		}
		want := utf8.Valid(b)
		if want {
			valid++
		}
		if got := validUTF8(b); got != want {
			t.Fatalf("validUTF8(% x) = %v, utf8.Valid = %v", b, got, want)
		}
		// Streaming over a random split gives the same verdict.
		k := rng.IntN(len(b) + 1)
		s := utf8Step(utf8Step(utf8Accept, b[:k]), b[k:])
		if (s == utf8Accept) != want {
			t.Fatalf("split at %d of % x: state %d, utf8.Valid = %v", k, b, s, want)
		}
	}
	if valid < 2000 || valid > 18000 {
		t.Fatalf("test input is lopsided: %d of 20000 valid", valid)
	}
}

// Every sequence of up to 3 bytes, and every 4-byte sequence starting
// with a 4-byte lead and two continuation bytes.
func TestUTF8Exhaustive(t *testing.T) {
	var b [4]byte
	for n := 1; n <= 3; n++ {
		for v := range 1 << (8 * n) {
			for i := range n {
				b[i] = byte(v >> (8 * i))
			}
			if got, want := validUTF8(b[:n]), utf8.Valid(b[:n]); got != want {
				t.Fatalf("% x: got %v want %v", b[:n], got, want)
			}
		}
	}
	for lead := 0xf0; lead <= 0xff; lead++ {
		for v := range 1 << 16 {
			b = [4]byte{byte(lead), byte(v), byte(v >> 8), 0x80 + byte(v%0x40)}
			if got, want := validUTF8(b[:]), utf8.Valid(b[:]); got != want {
				t.Fatalf("% x: got %v want %v", b, got, want)
			}
		}
	}
}
