package shard

// wheel is a hashed timing wheel of one-second buckets threaded through the
// shard's slot table: a bucket is the head index of a doubly linked list
// whose links are the slots' prev/next fields, so arming, re-arming and
// disarming are O(1) pointer-free updates that never allocate.
//
// An entry keeps its absolute due tick and sits in bucket due&mask; entries
// further away than the wheel's span share buckets with nearer ones and are
// simply skipped until their round comes. A due tick already reached goes
// to the next tick's bucket.
//
// The head of a list has prev = -(bucket+2), so unlink finds its bucket
// without storing it (a due in the past does not name its bucket).
// All methods run under the owning shard's mu.
type wheel struct {
	heads []int32
	mask  uint32
	now   uint32 // last tick processed
}

func (w *wheel) init(n int, now uint32) {
	w.heads = make([]int32, n)
	for i := range w.heads {
		w.heads[i] = -1
	}
	w.mask = uint32(n - 1)
	w.now = now
}

// arm moves entry i to tick due; 0 disarms.
func (w *wheel) arm(t []slot, i int32, due uint32) {
	if t[i].due != 0 {
		w.unlink(t, i)
	}
	if due == 0 {
		return
	}
	b := due
	if b <= w.now {
		b = w.now + 1
	}
	b &= w.mask
	head := w.heads[b]
	t[i].prev = -int32(b) - 2
	t[i].next = head
	if head >= 0 {
		t[head].prev = i
	}
	w.heads[b] = i
	t[i].due = due
}

func (w *wheel) unlink(t []slot, i int32) {
	p, n := t[i].prev, t[i].next
	if p >= 0 {
		t[p].next = n
	} else {
		w.heads[-p-2] = n
	}
	if n >= 0 {
		t[n].prev = p
	}
	t[i].prev, t[i].next, t[i].due = -1, -1, 0
}

// expire disarms the entries of tick k's bucket that are due by k and
// appends their slots to out.
func (w *wheel) expire(t []slot, k uint32, out []int32) []int32 {
	return w.expireBucket(t, k&w.mask, k, out)
}

// expireAll sweeps every bucket once for entries due by k: the catch-up
// when the wheel is more than a full turn behind.
func (w *wheel) expireAll(t []slot, k uint32, out []int32) []int32 {
	for b := range w.heads {
		out = w.expireBucket(t, uint32(b), k, out)
	}
	return out
}

// expireBucket disarms bucket b's entries due by tick k (later rounds stay).
func (w *wheel) expireBucket(t []slot, b, k uint32, out []int32) []int32 {
	for i := w.heads[b]; i >= 0; {
		next := t[i].next
		if t[i].due <= k {
			w.unlink(t, i)
			out = append(out, i)
		}
		i = next
	}
	return out
}
