package frame

import "strconv"

// parseSince reads a sub's since value, {"off": N, "epoch": "s"} in either
// encoding (keys in any order, both required, others refused).
func parseSince(v []byte, enc Enc) (Since, bool) {
	var s Since
	var hasOff, hasEpoch bool
	if enc == JSON {
		o, ok := openObj(v, 0)
		if !ok {
			return s, false
		}
		for {
			key, val, isStr, esc, more := o.next()
			if !more {
				break
			}
			switch string(key) {
			case "off":
				n, err := strconv.ParseUint(string(val), 10, 64) // no allocation: converted for the call only
				if isStr || err != nil {
					return s, false
				}
				s.Off, hasOff = n, true
			case "epoch":
				if !isStr {
					return s, false
				}
				s.Epoch, hasEpoch = strBody(val, esc), true
			default:
				return s, false
			}
		}
		if end := o.end(); end < 0 || skipWS(v, end) != len(v) {
			return s, false
		}
	} else {
		n, i, ok := mpMapLen(v, 0)
		if !ok {
			return s, false
		}
		for ; n > 0; n-- {
			key, ke, isStr := mpStr(v, i)
			if !isStr || ke < 0 {
				return s, false
			}
			switch string(key) {
			case "off":
				u, next, ok := mpUint(v, ke)
				if !ok {
					return s, false
				}
				s.Off, hasOff, i = u, true, next
			case "epoch":
				e, next, ok := mpStr(v, ke)
				if !ok || next < 0 {
					return s, false
				}
				s.Epoch, hasEpoch, i = e, true, next
			default:
				return s, false
			}
		}
		if i != len(v) {
			return s, false
		}
	}
	s.Set = hasOff && hasEpoch
	return s, s.Set
}

// mpUint reads a non-negative integer at v[i] (any MessagePack int form).
func mpUint(v []byte, i int) (u uint64, next int, ok bool) {
	if i >= len(v) {
		return 0, 0, false
	}
	c := v[i]
	switch {
	case c <= 0x7f:
		return uint64(c), i + 1, true
	case c == 0xcc || c == 0xd0:
		if i+2 > len(v) || (c == 0xd0 && v[i+1]&0x80 != 0) {
			return 0, 0, false
		}
		return uint64(v[i+1]), i + 2, true
	case c == 0xcd || c == 0xd1:
		if i+3 > len(v) || (c == 0xd1 && v[i+1]&0x80 != 0) {
			return 0, 0, false
		}
		return uint64(v[i+1])<<8 | uint64(v[i+2]), i + 3, true
	case c == 0xce || c == 0xd2:
		if i+5 > len(v) || (c == 0xd2 && v[i+1]&0x80 != 0) {
			return 0, 0, false
		}
		return uint64(v[i+1])<<24 | uint64(v[i+2])<<16 | uint64(v[i+3])<<8 | uint64(v[i+4]), i + 5, true
	case c == 0xcf || c == 0xd3:
		if i+9 > len(v) || (c == 0xd3 && v[i+1]&0x80 != 0) {
			return 0, 0, false
		}
		var u uint64
		for k := 1; k <= 8; k++ {
			u = u<<8 | uint64(v[i+k])
		}
		return u, i + 9, true
	}
	return 0, 0, false
}
