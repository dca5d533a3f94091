package gcpauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// The DER reader gives the key crypto/x509 gives, for both encodings
// Google and OpenSSL produce.
func TestParseRSAKeyMatchesX509(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"PKCS#8": {Type: "PRIVATE KEY", Bytes: p8},
		"PKCS#1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		got, err := parseRSAKey(string(pem.EncodeToMemory(block)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Equal(key) || got.Precomputed.Dp.Cmp(key.Precomputed.Dp) != 0 {
			t.Fatalf("%s: the parsed key differs from the generated one", name)
		}
	}
}

// Malformed DER is refused, never a panic: every truncation and every
// single-byte change of a real key, and the encodings DER forbids.
func TestParseRSAKeyRefusesMalformedDER(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	parse := func(der []byte) error {
		_, err := parseRSAKey(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
		return err
	}
	for n := range len(p8) {
		if parse(p8[:n]) == nil {
			t.Fatalf("a key cut to %d of %d bytes was accepted", n, len(p8))
		}
	}
	for i := range p8 {
		b := append([]byte(nil), p8...)
		b[i] ^= 0xff
		if _, err := x509.ParsePKCS8PrivateKey(b); err != nil && parse(b) == nil {
			t.Fatalf("byte %d changed: crypto/x509 refuses the key, we accept it", i)
		}
	}
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"indefinite length", []byte{0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00}},
		{"long form for a short length", []byte{0x30, 0x81, 0x03, 0x02, 0x01, 0x00}},
		{"length with a leading zero", []byte{0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x00}},
		{"length past the end", []byte{0x30, 0x83, 0x7f, 0xff, 0xff, 0x02, 0x01, 0x00}},
		{"negative modulus", []byte{0x30, 0x09, 0x02, 0x01, 0x00, 0x02, 0x01, 0x80, 0x02, 0x01, 0x03}},
		{"trailing bytes", append(append([]byte(nil), x509.MarshalPKCS1PrivateKey(key)...), 0)},
	} {
		if parse(tc.der) == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
