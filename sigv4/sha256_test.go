package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// The plain-Go SHA-256 and HMAC-SHA256 must equal crypto's. These tests run
// natively too, although only the Wasm build signs with them.

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestGoSum256(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var lengths []int
	for n := range 301 { // every padding case: 0..55, 56..63, 64, several blocks
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1000, 4096, 10*1024+7, 1<<16+55, 1<<20+1)
	for _, n := range lengths {
		p := randBytes(rng, n)
		if got, want := goSum256(p), sha256.Sum256(p); got != want {
			t.Fatalf("len %d: goSum256 = %x, crypto/sha256 = %x", n, got, want)
		}
	}
	// Bits set everywhere, in case an operation is wrong only for high bits.
	for _, n := range []int{55, 56, 64, 1000} {
		p := bytes.Repeat([]byte{0xff}, n)
		if got, want := goSum256(p), sha256.Sum256(p); got != want {
			t.Fatalf("%d bytes of 0xff: goSum256 = %x, crypto/sha256 = %x", n, got, want)
		}
	}
}

func TestGoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, keyLen := range []int{0, 1, 20, 32, 44, 63, 64, 65, 100, 200} {
		key := randBytes(rng, keyLen)
		m := newGoHMAC(key)
		for _, msgLen := range []int{0, 1, 31, 55, 56, 64, 119, 120, 200, 5000} {
			msg := randBytes(rng, msgLen)
			want := hmac.New(sha256.New, key)
			want.Write(msg)
			// sum twice: a goHMAC is reused across requests.
			for range 2 {
				if got := m.sum(msg); !bytes.Equal(got[:], want.Sum(nil)) {
					t.Fatalf("key len %d, msg len %d: goHMAC = %x, crypto/hmac = %x", keyLen, msgLen, got, want.Sum(nil))
				}
			}
		}
	}
}

func FuzzGoSHA256(f *testing.F) {
	f.Add([]byte(nil), []byte(nil))
	f.Add([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	f.Add(bytes.Repeat([]byte{0x80}, 65), bytes.Repeat([]byte{0xff}, 119))
	f.Fuzz(func(t *testing.T, key, msg []byte) {
		if got, want := goSum256(msg), sha256.Sum256(msg); got != want {
			t.Fatalf("goSum256 = %x, crypto/sha256 = %x", got, want)
		}
		want := hmac.New(sha256.New, key)
		want.Write(msg)
		if got := newGoHMAC(key).sum(msg); !bytes.Equal(got[:], want.Sum(nil)) {
			t.Fatalf("goHMAC = %x, crypto/hmac = %x", got, want.Sum(nil))
		}
	})
}

// BenchmarkSHA256 compares the plain-Go SHA-256 with crypto/sha256 on a
// 10 KB body. Natively crypto/sha256 is far faster (assembly); under Wasm
// goSum256 should be about twice as fast, which is why the Wasm build uses it.
func BenchmarkSHA256(b *testing.B) {
	p := randBytes(rand.New(rand.NewPCG(5, 6)), 10*1024)
	b.Run("crypto", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			sha256.Sum256(p)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			goSum256(p)
		}
	})
}
