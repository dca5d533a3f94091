package ratelimit

import "errors"

// memStore is the Store of these tests, with the proxy-wasm shared-data
// rules: one version counter for all keys that starts at 1 and skips 0,
// and a missing key is created whatever the CAS
// (https://github.com/proxy-wasm/proxy-wasm-cpp-host/blob/main/src/shared_data.cc).
// The filter's own is proxywasm.MemStore, whose package a test binary for
// Wasm cannot link without a proxy-wasm host.
type memStore struct {
	m   map[string]memEntry
	cas uint32
}

type memEntry struct {
	value []byte
	cas   uint32
}

var errCASMismatch = errors.New("CAS mismatch")

func (s *memStore) Get(key string) ([]byte, uint32, bool) {
	e, ok := s.m[key]
	return e.value, e.cas, ok
}

func (s *memStore) Set(key string, value []byte, cas uint32) error {
	if e, ok := s.m[key]; ok && cas != 0 && cas != e.cas {
		return errCASMismatch
	}
	if s.m == nil {
		s.m = map[string]memEntry{}
	}
	s.cas++
	if s.cas == 0 {
		s.cas = 1
	}
	s.m[key] = memEntry{append([]byte(nil), value...), s.cas}
	return nil
}
