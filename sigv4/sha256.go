package sigv4

import "encoding/binary"

// A plain-Go SHA-256 and HMAC-SHA256 for the Wasm build (see
// sha256_wasip1.go); native builds use crypto/sha256, which has assembly.
// The file has no build constraint so that its tests and fuzz test run
// everywhere.
//
// Under Wasm crypto/sha256 falls back to its generic loop, and that is where
// signing a request spends most of its time. sha256Block computes the same
// function about twice as fast there:
//   - the rounds are written out 16 at a time, the roles of a..h rotating
//     from one round to the next instead of the values moving, and the
//     message schedule is a 16-word ring updated in place, so every index is
//     a constant (no bounds checks, no address arithmetic);
//   - a 32-bit rotation is computed as 64-bit shifts of the word repeated in
//     both halves (see bigSigma0): Go's Wasm port keeps uint32 values in i64
//     locals, and each bits.RotateLeft32 costs a wrap, an i32.rotl and an
//     extension, which makes the three rotations of a sigma slower than
//     three shifts.

// sha256IV is the SHA-256 initial hash value.
var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// goSum256 returns the SHA-256 of p, like sha256.Sum256.
func goSum256(p []byte) [32]byte { return sha256Final(sha256IV, 0, p) }

// sha256Final hashes p starting from the chaining value h, which has
// already absorbed prefixLen bytes (a multiple of 64), and returns the digest.
func sha256Final(h [8]uint32, prefixLen uint64, p []byte) [32]byte {
	n := len(p) &^ 63
	sha256Block(&h, p[:n])
	// Padding: 0x80, zeros, and the length in bits, over one or two blocks.
	var tail [128]byte
	r := copy(tail[:], p[n:])
	tail[r] = 0x80
	end := 64
	if r >= 56 {
		end = 128
	}
	binary.BigEndian.PutUint64(tail[end-8:end], (prefixLen+uint64(len(p)))<<3)
	sha256Block(&h, tail[:end])
	var sum [32]byte
	for i, v := range h {
		binary.BigEndian.PutUint32(sum[4*i:], v)
	}
	return sum
}

// goHMAC is HMAC-SHA256 (RFC 2104) with its key already absorbed: inner and
// outer are the chaining values after the key XOR ipad and XOR opad blocks,
// so computing a MAC costs no key setup and no allocation.
type goHMAC struct{ inner, outer [8]uint32 }

func newGoHMAC(key []byte) *goHMAC {
	if len(key) > 64 {
		sum := goSum256(key)
		key = sum[:]
	}
	var pad [64]byte
	copy(pad[:], key)
	for i := range pad {
		pad[i] ^= 0x36
	}
	m := &goHMAC{inner: sha256IV, outer: sha256IV}
	sha256Block(&m.inner, pad[:])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	sha256Block(&m.outer, pad[:])
	return m
}

// sum returns the MAC of msg.
func (m *goHMAC) sum(msg []byte) [32]byte {
	in := sha256Final(m.inner, 64, msg)
	return sha256Final(m.outer, 64, in[:])
}

// sha256Block runs the SHA-256 compression function on each 64-byte block of
// p (len(p) must be a multiple of 64), updating the chaining value dig.
func sha256Block(dig *[8]uint32, p []byte) {
	h0, h1, h2, h3, h4, h5, h6, h7 := dig[0], dig[1], dig[2], dig[3], dig[4], dig[5], dig[6], dig[7]
	for len(p) >= 64 {
		q := (*[64]byte)(p)
		var w [16]uint32
		w[0] = binary.BigEndian.Uint32(q[0:])
		w[1] = binary.BigEndian.Uint32(q[4:])
		w[2] = binary.BigEndian.Uint32(q[8:])
		w[3] = binary.BigEndian.Uint32(q[12:])
		w[4] = binary.BigEndian.Uint32(q[16:])
		w[5] = binary.BigEndian.Uint32(q[20:])
		w[6] = binary.BigEndian.Uint32(q[24:])
		w[7] = binary.BigEndian.Uint32(q[28:])
		w[8] = binary.BigEndian.Uint32(q[32:])
		w[9] = binary.BigEndian.Uint32(q[36:])
		w[10] = binary.BigEndian.Uint32(q[40:])
		w[11] = binary.BigEndian.Uint32(q[44:])
		w[12] = binary.BigEndian.Uint32(q[48:])
		w[13] = binary.BigEndian.Uint32(q[52:])
		w[14] = binary.BigEndian.Uint32(q[56:])
		w[15] = binary.BigEndian.Uint32(q[60:])
		a, b, c, d, e, f, g, h := h0, h1, h2, h3, h4, h5, h6, h7
		for r := 0; r < 64; r += 16 {
			if r > 0 { // w[i] becomes W[r+i]
				w[0] += sigma1(w[14]) + w[9] + sigma0(w[1])
				w[1] += sigma1(w[15]) + w[10] + sigma0(w[2])
				w[2] += sigma1(w[0]) + w[11] + sigma0(w[3])
				w[3] += sigma1(w[1]) + w[12] + sigma0(w[4])
				w[4] += sigma1(w[2]) + w[13] + sigma0(w[5])
				w[5] += sigma1(w[3]) + w[14] + sigma0(w[6])
				w[6] += sigma1(w[4]) + w[15] + sigma0(w[7])
				w[7] += sigma1(w[5]) + w[0] + sigma0(w[8])
				w[8] += sigma1(w[6]) + w[1] + sigma0(w[9])
				w[9] += sigma1(w[7]) + w[2] + sigma0(w[10])
				w[10] += sigma1(w[8]) + w[3] + sigma0(w[11])
				w[11] += sigma1(w[9]) + w[4] + sigma0(w[12])
				w[12] += sigma1(w[10]) + w[5] + sigma0(w[13])
				w[13] += sigma1(w[11]) + w[6] + sigma0(w[14])
				w[14] += sigma1(w[12]) + w[7] + sigma0(w[15])
				w[15] += sigma1(w[13]) + w[8] + sigma0(w[0])
			}
			// Round r+i: T1 = h + Σ1(e) + Ch(e, f, g) + K[r+i] + W[r+i],
			// d += T1, h = T1 + Σ0(a) + Maj(a, b, c); then the variables
			// shift roles: h holds the new a, a the new b, ..., g the new h.
			k := (*[16]uint32)(sha256K[r:])
			h += bigSigma1(e) + (g ^ e&(f^g)) + k[0] + w[0]
			d += h
			h += bigSigma0(a) + (a&b | c&(a|b))
			g += bigSigma1(d) + (f ^ d&(e^f)) + k[1] + w[1]
			c += g
			g += bigSigma0(h) + (h&a | b&(h|a))
			f += bigSigma1(c) + (e ^ c&(d^e)) + k[2] + w[2]
			b += f
			f += bigSigma0(g) + (g&h | a&(g|h))
			e += bigSigma1(b) + (d ^ b&(c^d)) + k[3] + w[3]
			a += e
			e += bigSigma0(f) + (f&g | h&(f|g))
			d += bigSigma1(a) + (c ^ a&(b^c)) + k[4] + w[4]
			h += d
			d += bigSigma0(e) + (e&f | g&(e|f))
			c += bigSigma1(h) + (b ^ h&(a^b)) + k[5] + w[5]
			g += c
			c += bigSigma0(d) + (d&e | f&(d|e))
			b += bigSigma1(g) + (a ^ g&(h^a)) + k[6] + w[6]
			f += b
			b += bigSigma0(c) + (c&d | e&(c|d))
			a += bigSigma1(f) + (h ^ f&(g^h)) + k[7] + w[7]
			e += a
			a += bigSigma0(b) + (b&c | d&(b|c))
			h += bigSigma1(e) + (g ^ e&(f^g)) + k[8] + w[8]
			d += h
			h += bigSigma0(a) + (a&b | c&(a|b))
			g += bigSigma1(d) + (f ^ d&(e^f)) + k[9] + w[9]
			c += g
			g += bigSigma0(h) + (h&a | b&(h|a))
			f += bigSigma1(c) + (e ^ c&(d^e)) + k[10] + w[10]
			b += f
			f += bigSigma0(g) + (g&h | a&(g|h))
			e += bigSigma1(b) + (d ^ b&(c^d)) + k[11] + w[11]
			a += e
			e += bigSigma0(f) + (f&g | h&(f|g))
			d += bigSigma1(a) + (c ^ a&(b^c)) + k[12] + w[12]
			h += d
			d += bigSigma0(e) + (e&f | g&(e|f))
			c += bigSigma1(h) + (b ^ h&(a^b)) + k[13] + w[13]
			g += c
			c += bigSigma0(d) + (d&e | f&(d|e))
			b += bigSigma1(g) + (a ^ g&(h^a)) + k[14] + w[14]
			f += b
			b += bigSigma0(c) + (c&d | e&(c|d))
			a += bigSigma1(f) + (h ^ f&(g^h)) + k[15] + w[15]
			e += a
			a += bigSigma0(b) + (b&c | d&(b|c))
		}
		h0 += a
		h1 += b
		h2 += c
		h3 += d
		h4 += e
		h5 += f
		h6 += g
		h7 += h
		p = p[64:]
	}
	dig[0], dig[1], dig[2], dig[3], dig[4], dig[5], dig[6], dig[7] = h0, h1, h2, h3, h4, h5, h6, h7
}

// bigSigma0 is Σ0(x) = ROTR²(x) ^ ROTR¹³(x) ^ ROTR²²(x): with x repeated in
// both halves of a uint64, the low 32 bits of a right shift by n are ROTRⁿ(x).
func bigSigma0(x uint32) uint32 {
	xx := uint64(x) | uint64(x)<<32
	return uint32(xx>>2 ^ xx>>13 ^ xx>>22)
}

// bigSigma1 is Σ1(x) = ROTR⁶(x) ^ ROTR¹¹(x) ^ ROTR²⁵(x).
func bigSigma1(x uint32) uint32 {
	xx := uint64(x) | uint64(x)<<32
	return uint32(xx>>6 ^ xx>>11 ^ xx>>25)
}

// sigma0 is σ0(x) = ROTR⁷(x) ^ ROTR¹⁸(x) ^ SHR³(x).
func sigma0(x uint32) uint32 {
	xx := uint64(x) | uint64(x)<<32
	return uint32(xx>>7^xx>>18) ^ x>>3
}

// sigma1 is σ1(x) = ROTR¹⁷(x) ^ ROTR¹⁹(x) ^ SHR¹⁰(x).
func sigma1(x uint32) uint32 {
	xx := uint64(x) | uint64(x)<<32
	return uint32(xx>>17^xx>>19) ^ x>>10
}
