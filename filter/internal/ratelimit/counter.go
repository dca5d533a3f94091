package ratelimit

import (
	"encoding/binary"
	"errors"
	"math"
)

// Store is proxy-wasm shared data as filter/internal/proxywasm.Store
// defines it: Get returns a value, its CAS version (never 0 for a stored
// key) and whether the key exists; Set stores when cas is 0, when cas is
// the key's version or when the key does not exist, and fails otherwise.
type Store interface {
	Get(key string) (value []byte, cas uint32, ok bool)
	Set(key string, value []byte, cas uint32) error
}

// createCAS is the version Add passes when it found no counter. A missing
// key is created whatever the CAS, but if another worker created it in
// between, the set is compared with that record's version, which the host
// takes from one process-wide counter starting at 1: the set fails and Add
// reads again, instead of overwriting the other worker's tokens
// (https://github.com/proxy-wasm/proxy-wasm-cpp-host/blob/main/src/shared_data.cc).
const createCAS = math.MaxUint32

// MaxAttempts bounds Add's read-modify-write retries under contention.
const MaxAttempts = 16

// ErrContended is Add's answer when every attempt lost the race to other
// writers: the tokens were not counted.
var ErrContended = errors.New("ai-rate-limiting: the counter changed under every attempt to update it")

// Quota is a budget as the response headers show it.
type Quota struct {
	Limit     int64
	Remaining int64 // never negative: a window may be overspent by the last request
	Reset     int64 // seconds until the window ends
}

// Exhausted reports whether the budget admits no further request, as
// APISIX's dry run with cost 1 decides: remaining - 1 < 0.
func (q Quota) Exhausted() bool { return q.Remaining < 1 }

// A counter's record is 16 bytes: the start of its window (Unix seconds)
// and the tokens spent in it, little-endian. Windows are fixed and aligned
// on multiples of their length since the epoch, so every worker agrees on
// them without talking.
const recordLen = 16

func windowStart(now, window int64) int64 { return now - now%window }

func decode(v []byte) (start, used int64) {
	if len(v) != recordLen {
		return -1, 0 // not ours or damaged: an empty counter
	}
	return int64(binary.LittleEndian.Uint64(v)), int64(binary.LittleEndian.Uint64(v[8:]))
}

// quota is the budget of limit tokens per window seconds at now (Unix
// seconds), given what the stored record says.
func quota(rec []byte, limit, window, now int64) (q Quota, start, used int64) {
	window = max(window, 1) // callers validate it; a zero must not divide
	start = windowStart(now, window)
	if s, u := decode(rec); s == start {
		used = u
	}
	return Quota{Limit: limit, Remaining: max(limit-used, 0), Reset: start + window - now}, start, used
}

// Peek reads the budget under key: limit tokens per window seconds, at now
// (Unix seconds). A missing counter, or one of an earlier window, has the
// whole limit left.
func Peek(st Store, key string, limit, window, now int64) Quota {
	rec, _, _ := st.Get(key)
	q, _, _ := quota(rec, limit, window, now)
	return q
}

// Add spends cost tokens of the budget under key at now and returns the
// budget left. It reads, adds and writes back with compare-and-swap, and
// reads again when another writer got in between, so no worker's tokens
// are lost; it gives up with ErrContended after MaxAttempts, or returns
// the store's error.
func Add(st Store, key string, limit, window, now, cost int64) (Quota, error) {
	var buf [recordLen]byte
	for range MaxAttempts {
		rec, cas, ok := st.Get(key)
		q, start, used := quota(rec, limit, window, now)
		used = min(used+cost, math.MaxInt64/2)
		q.Remaining = max(limit-used, 0)
		binary.LittleEndian.PutUint64(buf[:8], uint64(start))
		binary.LittleEndian.PutUint64(buf[8:], uint64(used))
		setCAS := cas
		if !ok {
			setCAS = createCAS
		}
		err := st.Set(key, buf[:], setCAS)
		if err == nil {
			return q, nil
		}
		if _, cas2, ok2 := st.Get(key); ok2 == ok && cas2 == cas {
			return q, err // not a lost race: the store itself failed
		}
	}
	return Quota{}, ErrContended
}
