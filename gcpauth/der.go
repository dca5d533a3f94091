package gcpauth

import (
	"bytes"
	"math/big"
)

// This file reads the few DER structures a service-account key uses
// (ITU-T X.690): PKCS#8 PrivateKeyInfo (RFC 5208 §5) wrapping a PKCS#1
// RSAPrivateKey (RFC 8017 §A.1.2). encoding/asn1 would do it too, but it
// links reflection-driven decoding and time formatting into the module
// (about 250 KB of the .wasm), and crypto/x509 over a megabyte.

// DER tags used here.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagOID         = 0x06
	tagSequence    = 0x30
)

// oidRSAEncryption is rsaEncryption, 1.2.840.113549.1.1.1, as DER content.
var oidRSAEncryption = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}

// derReader walks a DER encoding; every read fails on malformed input
// rather than panicking.
type derReader []byte

// next reads one element of the given tag and returns its content.
func (d *derReader) next(tag byte) (derReader, bool) {
	b := *d
	if len(b) < 2 || b[0] != tag {
		return nil, false
	}
	n, hdr := int(b[1]), 2
	if n >= 0x80 {
		// Long form: 1 to 3 length octets, minimal as DER requires (no
		// leading zero, no long form for lengths under 128). Keys are far
		// below 16 MiB.
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k || b[2] == 0 {
			return nil, false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		if n < 0x80 {
			return nil, false
		}
		hdr += k
	}
	if len(b)-hdr < n {
		return nil, false
	}
	*d = b[hdr+n:]
	return b[hdr : hdr+n], true
}

// skipOptional skips an element whose tag is tag, if one comes next.
func (d *derReader) skipOptional(tag byte) bool {
	if len(*d) == 0 || (*d)[0] != tag {
		return true
	}
	_, ok := d.next(tag)
	return ok
}

// uint reads a non-negative INTEGER.
func (d *derReader) uint() (*big.Int, bool) {
	c, ok := d.next(tagInteger)
	if !ok || len(c) == 0 || c[0]&0x80 != 0 || len(c) > 1 && c[0] == 0 && c[1]&0x80 == 0 {
		return nil, false // empty, negative, or not minimal
	}
	return new(big.Int).SetBytes(c), true
}

// version reads an INTEGER that must be want.
func (d *derReader) version(want byte) bool {
	c, ok := d.next(tagInteger)
	return ok && len(c) == 1 && c[0] == want
}

// pkcs8RSA unwraps a PKCS#8 PrivateKeyInfo. isPKCS8 reports whether der has
// that shape at all (for rsaEncryption, with well-formed parameters); rsa,
// whether its algorithm is rsaEncryption. The returned bytes are the
// PKCS#1 key inside.
func pkcs8RSA(der []byte) (key []byte, isPKCS8, rsa bool) {
	outer := derReader(der)
	info, ok := outer.next(tagSequence)
	if !ok || len(outer) != 0 || !info.version(0) {
		return nil, false, false
	}
	algo, ok := info.next(tagSequence)
	if !ok {
		return nil, false, false
	}
	oid, ok := algo.next(tagOID)
	if !ok {
		return nil, false, false
	}
	priv, ok := info.next(tagOctetString)
	if !ok || !info.skipOptional(0xa0) || len(info) != 0 {
		return nil, false, false
	}
	if !bytes.Equal(oid, oidRSAEncryption) {
		return nil, true, false
	}
	// rsaEncryption's parameters are NULL or absent (RFC 8017 §A.1).
	return priv, len(algo) == 0 || bytes.Equal(algo, []byte{0x05, 0x00}), true
}

// pkcs1Key holds the integers of a two-prime RSAPrivateKey.
type pkcs1Key struct {
	n, e, d, p, q *big.Int
	dp, dq, qinv  *big.Int
}

// parsePKCS1 reads a two-prime (version 0) PKCS#1 RSAPrivateKey.
func parsePKCS1(der []byte) (pkcs1Key, bool) {
	var k pkcs1Key
	outer := derReader(der)
	seq, ok := outer.next(tagSequence)
	if !ok || len(outer) != 0 || !seq.version(0) {
		return k, false
	}
	for _, v := range []**big.Int{&k.n, &k.e, &k.d, &k.p, &k.q, &k.dp, &k.dq, &k.qinv} {
		if *v, ok = seq.uint(); !ok {
			return k, false
		}
	}
	return k, len(seq) == 0
}
