package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/starling-ws/starling/frame"
)

// MaxPatterns bounds the patterns of one list (ch.sub or ch.pub) in a
// token. A token is at most MaxToken bytes anyway; this keeps one claim
// from building a set far larger than any real deployment needs.
const MaxPatterns = 1024

// exactMapMin is the exact-name count from which a set uses a map instead
// of binary search over a sorted slice. Below it the slice is smaller (a
// map carries a group of slots and a header) and about as fast.
const exactMapMin = 32

// Perms is an immutable permission set: the channels a token holder may
// subscribe to and publish on. Perms are interned (see PermTable): every
// grant built from equivalent claims points to the same *Perms, so an idle
// connection pays one pointer for it. A nil *Perms permits nothing.
//
// Every pattern string is a substring of the canonical key the table
// interns it under, so the text of a set is one allocation.
type Perms struct {
	sub, pub patternSet
}

// patternSet is one list: all, or exact names plus prefixes, laid out
// compactly (one slice) because sets built from per-user claims are not
// shared and each costs its full size.
type patternSet struct {
	// pats holds the exact names (sorted) then the prefixes (sorted and
	// prefix-free: no element is a prefix of another, so the only
	// candidate for a channel is the greatest prefix <= it; see allows).
	pats     []string
	exactMap map[string]struct{} // replaces searching pats[:nExact] when nExact >= exactMapMin
	nExact   int32
	all      bool
}

// Everything permits every channel both ways: for a server running
// without tokens. Nothing permits no channel (a token without ch).
var (
	Everything = newPerms("*|*")
	Nothing    = newPerms("|")
)

// CanSub reports whether ch may be subscribed to. It does not allocate.
func (p *Perms) CanSub(ch []byte) bool { return p != nil && p.sub.allows(ch) }

// CanPub reports whether ch may be published on. It does not allocate.
func (p *Perms) CanPub(ch []byte) bool { return p != nil && p.pub.allows(ch) }

// String is the canonical form: sub patterns, '|', pub patterns, each list
// exact names then prefixes, sorted, comma-separated ("lobby,room.*|room.a").
func (p *Perms) String() string {
	if p == nil {
		return "|"
	}
	return p.sub.String() + "|" + p.pub.String()
}

func (s *patternSet) String() string {
	if s.all {
		return "*"
	}
	var b strings.Builder
	for i, x := range s.pats {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
		if i >= int(s.nExact) {
			b.WriteByte('*')
		}
	}
	return b.String()
}

// allows costs O(log n) comparisons for n patterns of each kind: an exact
// lookup, then one binary search among the prefixes.
func (s *patternSet) allows(ch []byte) bool {
	if s.all {
		return true
	}
	exact, prefixes := s.pats[:s.nExact], s.pats[s.nExact:]
	if s.exactMap != nil {
		if _, ok := s.exactMap[string(ch)]; ok {
			return true
		}
	} else if _, ok := search(exact, ch); ok {
		return true
	}
	// In a sorted prefix-free list, if some p is a prefix of ch then every
	// q with p <= q <= ch starts with p, hence q == p: p is the greatest
	// element <= ch. So one search and one comparison decide.
	i, ok := search(prefixes, ch)
	if ok {
		return true // ch equals a prefix: "room.*" admits "room." itself
	}
	if i == 0 {
		return false
	}
	p := prefixes[i-1]
	return len(ch) > len(p) && string(ch[:len(p)]) == p
}

// search returns the number of elements of sorted list that are < ch, and
// whether list holds ch. Written out (not slices.BinarySearchFunc) so that
// string(ch) stays a comparison operand and never allocates.
func search(list []string, ch []byte) (int, bool) {
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if list[m] < string(ch) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(list) && list[lo] == string(ch)
}

// errPattern is the cause inside a TokenBadClaims refusal.
var errPattern = errors.New("invalid channel pattern")

// appendCanonical validates both lists and appends the canonical key that
// newPerms parses: each list normalised (sorted, deduplicated, prefixes
// covered by a shorter prefix and names covered by a prefix dropped), so
// that equivalent claims intern to one set. It appends to the caller's
// buffer so that a set already interned costs no allocation (Make).
func appendCanonical(dst []byte, sub, pub []string) ([]byte, error) {
	dst, err := appendList(dst, sub)
	if err != nil {
		return nil, fmt.Errorf("ch.sub: %w", err)
	}
	dst = append(dst, '|')
	if dst, err = appendList(dst, pub); err != nil {
		return nil, fmt.Errorf("ch.pub: %w", err)
	}
	return dst, nil
}

func appendList(dst []byte, pats []string) ([]byte, error) {
	if len(pats) > MaxPatterns {
		return nil, fmt.Errorf("%d patterns, at most %d", len(pats), MaxPatterns)
	}
	// Claims name a few patterns; these stay on the stack unless more.
	var exactBuf, prefixBuf [8]string
	exact, prefixes := exactBuf[:0], prefixBuf[:0]
	for _, p := range pats {
		switch {
		case p == "*":
			return append(dst, '*'), nil
		case strings.HasSuffix(p, "*"):
			pre := p[:len(p)-1]
			if !validChannel(pre) {
				return nil, fmt.Errorf("%w %q", errPattern, p)
			}
			prefixes = append(prefixes, pre)
		default:
			if !validChannel(p) {
				return nil, fmt.Errorf("%w %q", errPattern, p)
			}
			exact = append(exact, p)
		}
	}
	slices.Sort(prefixes)
	prefixes = slices.Compact(prefixes)
	kept := prefixes[:0]
	for _, p := range prefixes {
		// Sorted, a covering prefix precedes what it covers, and anything
		// between them is covered too (see allows).
		if len(kept) == 0 || !strings.HasPrefix(p, kept[len(kept)-1]) {
			kept = append(kept, p)
		}
	}
	slices.Sort(exact)
	exact = slices.Compact(exact)
	ps := patternSet{pats: kept}
	start := len(dst)
	for _, e := range exact {
		if !ps.allowsString(e) {
			if len(dst) > start {
				dst = append(dst, ',')
			}
			dst = append(dst, e...)
		}
	}
	for _, p := range kept {
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = append(append(dst, p...), '*')
	}
	return dst, nil
}

// validChannel is frame.ValidChannel on a string, without copying it.
func validChannel(s string) bool { return frame.ValidChannel(readOnly(s)) }

// allowsString is allows on a string, without copying it.
func (s *patternSet) allowsString(ch string) bool { return s.allows(readOnly(ch)) }

// readOnly is s's bytes without a copy, for callees that only read them.
func readOnly(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// newPerms builds a set from a canonical key (made by canonical). Every
// pattern is a substring of key.
func newPerms(key string) *Perms {
	subKey, pubKey, _ := strings.Cut(key, "|")
	return &Perms{sub: parseSet(subKey), pub: parseSet(pubKey)}
}

func parseSet(list string) patternSet {
	var s patternSet
	if list == "*" {
		s.all = true
		return s
	}
	n := strings.Count(list, ",") + 1
	if list == "" {
		n = 0
	}
	s.pats = make([]string, 0, n)
	// canonical wrote exact names then prefixes, each kind sorted.
	for item := range strings.SplitSeq(list, ",") {
		switch {
		case item == "":
		case strings.HasSuffix(item, "*"):
			s.pats = append(s.pats, item[:len(item)-1])
		default:
			s.pats = append(s.pats, item)
			s.nExact++
		}
	}
	if s.nExact >= exactMapMin {
		s.exactMap = make(map[string]struct{}, s.nExact)
		for _, e := range s.pats[:s.nExact] {
			s.exactMap[e] = struct{}{}
		}
	}
	return s
}
