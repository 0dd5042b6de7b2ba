package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
)

// MinKey is the shortest API key accepted in a key file: 16 bytes, so a
// key cannot be guessed online (generate them with `openssl rand -hex 32`).
const MinKey = 16

// Keys is the set of accepted API keys, held as SHA-256 digests.
type Keys struct {
	sums [][sha256.Size]byte
}

// LoadKeys reads a key file: one key per line; surrounding spaces, blank
// lines and lines starting with '#' are ignored. Errors name the flag and
// the line.
func LoadKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-api-key-file: %w", err)
	}
	k, err := ParseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("-api-key-file %s: %w", path, err)
	}
	return k, nil
}

// ParseKeys is LoadKeys on the file's bytes.
func ParseKeys(b []byte) (*Keys, error) {
	k := &Keys{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		key := bytes.TrimSpace(sc.Bytes())
		if len(key) == 0 || key[0] == '#' {
			continue
		}
		if len(key) < MinKey {
			return nil, fmt.Errorf("line %d: key of %d bytes, at least %d required", line, len(key), MinKey)
		}
		if bytes.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: a key cannot contain spaces", line)
		}
		k.sums = append(k.sums, sha256.Sum256(key))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.sums) == 0 {
		return nil, fmt.Errorf("no keys")
	}
	return k, nil
}

// Check reports whether key is one of the keys. Its time does not depend
// on which key matched, how much of one matched, or the keys' lengths:
// digests of equal size are compared, all of them, in constant time.
func (k *Keys) Check(key []byte) bool {
	if k == nil || len(key) == 0 {
		return false
	}
	sum := sha256.Sum256(key)
	ok := 0
	for i := range k.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], k.sums[i][:])
	}
	return ok == 1
}
