package poller

// connTable maps a descriptor to its Conn: a flat slice indexed by fd, owned
// by one loop (no lock, no map). Descriptor numbers are dense (the kernel
// hands out the lowest free one), so the slice stays about as long as the
// process's highest fd; it doubles when it must grow and never shrinks.
type connTable struct {
	s []*Conn
}

func (t *connTable) get(fd int) *Conn {
	if uint(fd) >= uint(len(t.s)) {
		return nil
	}
	return t.s[fd]
}

func (t *connTable) put(fd int, c *Conn) {
	if fd >= len(t.s) {
		n := 2 * len(t.s)
		if n < 1024 {
			n = 1024
		}
		for n <= fd {
			n *= 2
		}
		s := make([]*Conn, n)
		copy(s, t.s)
		t.s = s
	}
	t.s[fd] = c
}

func (t *connTable) del(fd int) { t.s[fd] = nil }
