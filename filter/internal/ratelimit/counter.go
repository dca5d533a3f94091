package ratelimit

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// Store is the plugin's shared data (proxywasm.Store).
type Store = proxywasm.Store

// MaxAttempts bounds Add's read-modify-write retries under contention.
const MaxAttempts = 16

// ErrContended is Add's answer when every attempt lost the race to other
// writers: the tokens were not counted.
var ErrContended = proxywasm.ErrContended

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
	var q Quota
	_, err := proxywasm.Update(st, key, MaxAttempts, func(rec []byte) ([]byte, bool) {
		var start, used int64
		q, start, used = quota(rec, limit, window, now)
		used = min(used+cost, math.MaxInt64/2)
		q.Remaining = max(limit-used, 0)
		binary.LittleEndian.PutUint64(buf[:8], uint64(start))
		binary.LittleEndian.PutUint64(buf[8:], uint64(used))
		return buf[:], true
	})
	if errors.Is(err, ErrContended) {
		return Quota{}, err
	}
	return q, err
}
