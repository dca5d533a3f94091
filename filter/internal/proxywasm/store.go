package proxywasm

import (
	"bytes"
	"errors"
)

// Store is proxy-wasm shared data: a key-value store with compare-and-swap,
// which every VM (Envoy worker) of a plugin shares (proxy_get_shared_data
// and proxy_set_shared_data, docs/proxy-wasm-abi.md). One store serves
// every shared state of a plugin (cached tokens, and any other state the
// workers must agree on); keys carry a prefix per use.
//
// Get returns the value, its CAS version (never 0 for a stored key) and
// whether the key exists; the caller must not modify the value, which is
// valid until the next call on the store.
//
// Set stores value if cas is 0, if cas equals the key's version, or if the
// key does not exist (whatever cas is), and gives the key a new version. It
// returns ErrCASMismatch when another writer changed the key since the
// Get that returned cas, and another error when the store failed.
type Store interface {
	Get(key string) (value []byte, cas uint32, ok bool)
	Set(key string, value []byte, cas uint32) error
}

// ErrCASMismatch is Store.Set's answer when the key's version is no longer
// the cas given: read the key again and retry, or let the other writer win.
var ErrCASMismatch = errors.New("shared data: CAS mismatch, the key changed since it was read")

// MemStore is a Store in the VM's own memory with the semantics of
// proxy-wasm shared data, including one version counter for all keys that
// starts at 1 and skips 0 (https://github.com/proxy-wasm/proxy-wasm-cpp-host/blob/main/src/shared_data.cc).
// It serves hosts without shared data, where each VM keeps its own state,
// and tests. The zero value is ready to use; it is not safe for concurrent
// use.
type MemStore struct {
	m   map[string]memEntry
	cas uint32 // the last version handed out
}

type memEntry struct {
	value []byte
	cas   uint32
}

// Get implements Store.
func (s *MemStore) Get(key string) ([]byte, uint32, bool) {
	e, ok := s.m[key]
	return e.value, e.cas, ok
}

// Set implements Store.
func (s *MemStore) Set(key string, value []byte, cas uint32) error {
	if e, ok := s.m[key]; ok && cas != 0 && cas != e.cas {
		return ErrCASMismatch
	}
	if s.m == nil {
		s.m = make(map[string]memEntry)
	}
	s.cas++
	if s.cas == 0 {
		s.cas = 1
	}
	s.m[key] = memEntry{bytes.Clone(value), s.cas}
	return nil
}
