package gate

import (
	"runtime"
	"sync"
	"weak"
)

// PermTable interns permission sets: Make returns the one live *Perms for
// equivalent claims, so every connection holding them shares it.
//
// Why weak pointers rather than a bounded table with eviction: a bounded
// table needs a reference count per set, and so a Release on every close
// path that must never be missed or doubled, and a bound that either
// evicts sets still in use (breaking sharing) or refuses new ones. With
// weak pointers the garbage collector is the reference count: the table
// maps a canonical key to a weak.Pointer, a set lives exactly as long as
// some grant points to it, and a cleanup (runtime.AddCleanup) deletes its
// entry once it is collected. The table is therefore bounded by the sets
// live connections hold (at most one per connection) plus those awaiting
// their cleanup after the next GC, with no per-connection bookkeeping.
//
// Lock: mu is a leaf, held only for one map lookup/insert/delete.
type PermTable struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[Perms]
	// evictFn is t.evict bound once, so registering a cleanup does not
	// allocate a method value per set.
	evictFn func(string)
}

// NewPermTable returns an empty table.
func NewPermTable() *PermTable {
	t := &PermTable{m: make(map[string]weak.Pointer[Perms])}
	t.evictFn = t.evict
	return t
}

// Make validates the pattern lists and returns the interned set. A pattern
// is an exact channel name, a valid channel-name prefix followed by '*'
// ("room.*"), or "*" alone (every channel). Errors name the list and the
// offending pattern.
func (t *PermTable) Make(sub, pub []string) (*Perms, error) {
	var buf [256]byte
	key, err := appendCanonical(buf[:0], sub, pub)
	if err != nil {
		return nil, err
	}
	return t.intern(key), nil
}

// intern returns the set for a canonical key. A set already interned
// costs a lookup and no allocation: the key is copied only for a new one.
func (t *PermTable) intern(k []byte) *Perms {
	switch string(k) {
	case "|":
		return Nothing
	case "*|*":
		return Everything
	}
	t.mu.Lock()
	if p := t.m[string(k)].Value(); p != nil {
		t.mu.Unlock()
		return p
	}
	key := string(k)
	p := newPerms(key)
	t.m[key] = weak.Make(p)
	t.mu.Unlock()
	// p points into key's bytes, never the reverse, so the cleanup's
	// argument does not keep p reachable.
	runtime.AddCleanup(p, t.evictFn, key)
	return p
}

// evict runs after a set was collected. A newer set may have been interned
// under the same key since: only a dead entry is deleted.
func (t *PermTable) evict(key string) {
	t.mu.Lock()
	if wp, ok := t.m[key]; ok && wp.Value() == nil {
		delete(t.m, key)
	}
	t.mu.Unlock()
}

// Len is the number of entries (live sets plus any awaiting cleanup).
func (t *PermTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
