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

// ErrContended is Update's answer when other writers changed the key under
// every try.
var ErrContended = errors.New("shared data: the key changed under every try to update it")

// createCAS is the version Update sets a missing key with. A missing key
// is created whatever the CAS, but if another worker created it in
// between, the set is compared with that record's version, which the host
// takes from one process-wide counter starting at 1 and never reaching
// this: the set fails and Update reads again, instead of overwriting the
// other worker's record (proxy-wasm has no create-if-absent;
// https://github.com/proxy-wasm/proxy-wasm-cpp-host/blob/main/src/shared_data.cc).
const createCAS = ^uint32(0)

// Update changes the value under key by compare-and-swap. change gets the
// current value (nil when the key is missing; it must not keep it) and
// returns the value to store, or false to leave the key as it is. When
// another writer got in between, Update reads again, up to tries times,
// then gives up with ErrContended; a failing store's error is returned
// as it is. changed reports whether a value was stored.
func Update(st Store, key string, tries int, change func(old []byte) (value []byte, ok bool)) (changed bool, err error) {
	for range tries {
		old, cas, exists := st.Get(key)
		value, ok := change(old)
		if !ok {
			return false, nil
		}
		if !exists {
			cas = createCAS
		}
		switch err := st.Set(key, value, cas); {
		case err == nil:
			return true, nil
		case !errors.Is(err, ErrCASMismatch):
			return false, err
		}
	}
	return false, ErrContended
}

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
