//go:build wasip1

package sigv4

// Under Wasm crypto/sha256 has no assembly and its generic code is about
// half as fast as sha256Block, and hashing is most of the cost of Sign, so
// the Wasm build uses the plain-Go SHA-256 of sha256.go.

// sum256 returns the SHA-256 of p.
func sum256(p []byte) [32]byte { return goSum256(p) }

// mac is HMAC-SHA256 under one key.
type mac = goHMAC

func newMAC(key []byte) *mac { return newGoHMAC(key) }
