//go:build linux

package poller

import (
	"sync"
	"sync/atomic"
)

// fdTable maps a descriptor to its Conn for the whole epoll engine (every
// loop shares one): a fixed directory of page pointers, pages of fdPageSize
// slots allocated when a descriptor in their range first arrives and freed
// when their last entry leaves. Descriptor numbers are dense (the kernel
// hands out the lowest free one), so the table costs about 8 bytes per open
// connection plus the unused part of the top page, and gives memory back as
// the connection count falls. (A table per loop would cost 8 bytes times
// the process's highest descriptor per loop, and never shrink: 128 MiB for
// 64 loops at 150k connections.)
//
// Concurrency:
//   - get is the hot path (every event): two atomic loads, no lock.
//   - A slot is written (put, del) only by the loop that owns the
//     connection; slots of one page may belong to different loops.
//   - refs[i] is page i's live entries plus one while the page exists, 0
//     when it does not: put and del move it with atomics. Pages are
//     allocated and freed only under mu, which get never takes. alloc
//     stores the page before raising refs to 1, free drops refs from 1 to 0
//     before clearing the page, so refs >= 1 implies the page is there and
//     stays until the count falls back: a put that raised refs can store
//     into pages[i] without a lock, and a put that finds 0 waits on mu for
//     a free in progress to finish.
//
// A page is exactly 8 KiB (a Go size class), which is why its count lives
// in refs and not in the page.
type fdTable struct {
	mu    sync.Mutex // page allocation and freeing only
	spare *fdPage    // one freed page kept for the next alloc; under mu
	pages [fdTableMax / fdPageSize]atomic.Pointer[fdPage]
	refs  [fdTableMax / fdPageSize]atomic.Int32
	live  atomic.Int32  // pages allocated now (tests)
	made  atomic.Uint32 // pages ever allocated (tests)
}

const (
	fdPageBits = 10
	fdPageSize = 1 << fdPageBits // 1,024 slots: 8 KiB per page
	// fdTableMax bounds the descriptor numbers the engine serves: 4M, above
	// any RLIMIT_NOFILE this server is sized for. The directory (pages and
	// refs) is fdTableMax/fdPageSize*12 = 48 KiB per engine.
	fdTableMax = 1 << 22
)

type fdPage [fdPageSize]atomic.Pointer[Conn]

// get returns the connection holding fd, or nil. A get for a descriptor
// that is not in the table may race a free and read the spare page after
// its reuse for another range: callers that can ask for an absent
// descriptor check that the result's fd is theirs.
func (t *fdTable) get(fd int) *Conn {
	if uint(fd) >= fdTableMax {
		return nil
	}
	p := t.pages[fd>>fdPageBits].Load()
	if p == nil {
		return nil
	}
	return p[fd&(fdPageSize-1)].Load()
}

// put stores c at fd (whose slot must be empty); false if fd is beyond
// fdTableMax.
func (t *fdTable) put(fd int, c *Conn) bool {
	if uint(fd) >= fdTableMax {
		return false
	}
	i := fd >> fdPageBits
	r := &t.refs[i]
	for {
		if n := r.Load(); n > 0 {
			if r.CompareAndSwap(n, n+1) {
				break
			}
			continue
		}
		t.alloc(i)
	}
	t.pages[i].Load()[fd&(fdPageSize-1)].Store(c)
	return true
}

// del clears fd's slot and frees its page if that was the last entry.
func (t *fdTable) del(fd int) {
	if uint(fd) >= fdTableMax {
		return
	}
	i := fd >> fdPageBits
	p := t.pages[i].Load()
	if p == nil {
		return
	}
	p[fd&(fdPageSize-1)].Store(nil)
	if t.refs[i].Add(-1) == 1 {
		t.free(i)
	}
}

// alloc makes page i exist.
func (t *fdTable) alloc(i int) {
	t.mu.Lock()
	if t.refs[i].Load() == 0 {
		p := t.spare
		if p == nil {
			p = new(fdPage)
		}
		t.spare = nil
		t.pages[i].Store(p)
		t.refs[i].Store(1)
		t.live.Add(1)
		t.made.Add(1)
	}
	t.mu.Unlock()
}

// free drops page i if it is still empty; a put that raised refs in
// between keeps it. The page is kept as the spare when there is none, so a
// connection count that swings across a page boundary does not allocate 8
// KiB per swing. A spare has every slot nil: it was freed empty.
func (t *fdTable) free(i int) {
	t.mu.Lock()
	if t.refs[i].CompareAndSwap(1, 0) {
		if t.spare == nil {
			t.spare = t.pages[i].Load()
		}
		t.pages[i].Store(nil)
		t.live.Add(-1)
	}
	t.mu.Unlock()
}

// each calls f for every connection in the table owned by loop idx. Only
// that loop may call it (it reads other loops' slots but acts on its own).
func (t *fdTable) each(idx uint8, f func(c *Conn)) {
	for i := range t.pages {
		p := t.pages[i].Load()
		if p == nil {
			continue
		}
		for j := range p {
			if c := p[j].Load(); c != nil && c.loop == idx {
				f(c)
			}
		}
	}
}
