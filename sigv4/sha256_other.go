//go:build !wasip1

package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// sum256 returns the SHA-256 of p.
func sum256(p []byte) [32]byte { return sha256.Sum256(p) }

// mac is HMAC-SHA256 under one key.
type mac struct {
	h   hash.Hash
	out [sha256.Size]byte // so that sum does not allocate
}

func newMAC(key []byte) *mac { return &mac{h: hmac.New(sha256.New, key)} }

// sum returns the MAC of msg.
func (m *mac) sum(msg []byte) [32]byte {
	m.h.Reset()
	m.h.Write(msg)
	m.h.Sum(m.out[:0])
	return m.out
}
