package proxywasm

import "testing"

// TestMemStore checks the proxy-wasm shared-data semantics: gcpauth.Lookup
// relies on them.
func TestMemStore(t *testing.T) {
	var s MemStore
	if _, _, ok := s.Get("k"); ok {
		t.Fatal("empty store has k")
	}
	if err := s.Set("k", []byte("a"), 12345); err != nil {
		t.Fatalf("a missing key must be created whatever the CAS: %v", err)
	}
	v, cas1, ok := s.Get("k")
	if !ok || string(v) != "a" || cas1 != 1 {
		t.Fatalf("Get = (%q, %d, %v), want (a, 1, true)", v, cas1, ok)
	}
	if err := s.Set("k", []byte("b"), cas1+1); err != ErrCASMismatch {
		t.Fatalf("Set with a stale CAS = %v, want ErrCASMismatch", err)
	}
	if err := s.Set("k", []byte("b"), cas1); err != nil {
		t.Fatalf("Set with the current CAS: %v", err)
	}
	_, cas2, _ := s.Get("k")
	if cas2 == cas1 || cas2 == 0 {
		t.Fatalf("version after a Set = %d (was %d)", cas2, cas1)
	}
	if err := s.Set("k", []byte("c"), cas1); err != ErrCASMismatch {
		t.Fatalf("Set with an old CAS = %v, want ErrCASMismatch", err)
	}
	if err := s.Set("k", []byte("c"), 0); err != nil {
		t.Fatalf("Set with CAS 0 must be unconditional: %v", err)
	}
	buf := []byte("d")
	s.Set("k", buf, 0)
	buf[0] = 'x'
	if v, _, _ := s.Get("k"); string(v) != "d" {
		t.Fatalf("store kept the caller's buffer: %q", v)
	}

	// The version counter wraps to 1, never 0.
	s.cas = ^uint32(0) - 1
	s.Set("w", nil, 0)
	s.Set("w", nil, 0)
	if _, cas, _ := s.Get("w"); cas != 1 {
		t.Fatalf("version after wrapping = %d, want 1", cas)
	}
}
