package shard

import "hash/maphash"

// chanTab is a stripe's channel table: open addressing with linear probing
// over pointers to channel records, keyed by the channel's name.
//
// Written by hand rather than map[string]*channel because it is the
// largest per-channel cost after the record itself: a Go map slot holds the
// key's string header and the value (24 bytes, 28-57 per entry with its
// load factor), this table a single pointer (9-18 bytes per entry), and the
// name is read from the record it points to. A channel of its own is the
// common case at 150k users (per-user channels), so this decides whether a
// subscription to one fits in 128 bytes (TestMillionOwnChannels).
//
// The caller passes the name's hash (computed once per operation, whose
// low bits also pick the stripe). Deletion shifts later entries of the
// probe run back, so there are no tombstones. Not safe for concurrent use:
// the stripe's mutex guards it.
type chanTab struct {
	slots []*channel // len is a power of two, or 0
	n     int
	seed  maphash.Seed // the hub's: hashOf recomputes a record's hash
}

// slotOf maps a name's hash to a home slot. The low bits of the hash picked
// the stripe, so the table uses the bits above them.
func slotOf(hash, mask uint64) uint64 { return hash >> 8 & mask }

const minTab = 8

func (t *chanTab) get(name []byte, hash uint64) *channel {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := slotOf(hash, mask); ; i = (i + 1) & mask {
		c := t.slots[i]
		if c == nil {
			return nil
		}
		if c.name() == string(name) { // no allocation: compiler-recognised comparison
			return c
		}
	}
}

// put inserts c, which must not be in the table.
func (t *chanTab) put(c *channel, hash uint64) {
	if (t.n+1)*8 > len(t.slots)*7 {
		t.resize(max(2*len(t.slots), minTab))
	}
	t.place(c, hash)
	t.n++
}

func (t *chanTab) place(c *channel, hash uint64) { t.slots[t.probe(hash, nil)] = c }

// probe is the first slot of hash's run that holds want (nil: a free one).
func (t *chanTab) probe(hash uint64, want *channel) uint64 {
	mask := uint64(len(t.slots) - 1)
	i := slotOf(hash, mask)
	for t.slots[i] != want {
		i = (i + 1) & mask
	}
	return i
}

// del removes c, which must be in the table.
func (t *chanTab) del(c *channel, hash uint64) {
	mask := uint64(len(t.slots) - 1)
	i := t.probe(hash, c)
	t.slots[i] = nil
	// Shift back every entry of the rest of the run that its home slot
	// allows, so that lookups never stop early at the hole.
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		h := slotOf(t.hashOf(t.slots[j]), mask)
		// Entry j may move into hole i if its home h is not in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i], t.slots[j] = t.slots[j], nil
			i = j
		}
	}
	t.n--
	if len(t.slots) > minTab && t.n*8 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *chanTab) resize(n int) {
	old := t.slots
	t.slots = make([]*channel, n)
	for _, c := range old {
		if c != nil {
			t.place(c, t.hashOf(c))
		}
	}
}

// hashOf recomputes the hash a record was placed with (records do not keep
// it: 4 more bytes would take the record into the next size class).
func (t *chanTab) hashOf(c *channel) uint64 { return maphash.String(t.seed, c.name()) }

// each calls fn for every record (tests and sweeps; fn must not modify t).
func (t *chanTab) each(fn func(*channel)) {
	for _, c := range t.slots {
		if c != nil {
			fn(c)
		}
	}
}
