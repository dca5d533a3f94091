package health

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// State is everything the workers share about one instance, kept under
// one shared-data key so that one read gives a worker the whole picture
// and one compare-and-swap changes it: the active checks' counters, the
// passive cooldown, when the next probe is due and who holds the probe
// lease.
type State struct {
	Active Counters
	Cool   Cooldown
	// NextProbe is when the next probe is due (Unix nanoseconds).
	NextProbe int64
	// Lease: worker Owner (0: nobody) probes the instance until LeaseUntil
	// (Unix nanoseconds); past it, the lease is free again, so a worker
	// that went away does not stop the probes.
	Owner      uint32
	LeaseUntil int64
}

// stateSize is the encoded size: version byte, 5 counter bytes, the
// cooldown's failures, then Cool.Until, NextProbe, LeaseUntil and Owner,
// little-endian.
const stateSize = 1 + 5 + 1 + 8 + 8 + 8 + 4

const stateVersion = 1

// AppendTo appends the encoded state to b.
func (s *State) AppendTo(b []byte) []byte {
	unhealthy := byte(0)
	if s.Active.Unhealthy {
		unhealthy = 1
	}
	b = append(b, stateVersion, unhealthy, s.Active.Successes, s.Active.HTTPFailures, s.Active.TCPFailures, s.Active.Timeouts, s.Cool.Failures)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.Cool.Until))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.NextProbe))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.LeaseUntil))
	return binary.LittleEndian.AppendUint32(b, s.Owner)
}

// Decode reads an encoded state; anything else (another version, a
// truncated value) reads as the zero state, a healthy instance.
func Decode(b []byte) State {
	if len(b) != stateSize || b[0] != stateVersion {
		return State{}
	}
	var s State
	s.Active = Counters{Unhealthy: b[1] == 1, Successes: b[2], HTTPFailures: b[3], TCPFailures: b[4], Timeouts: b[5]}
	s.Cool.Failures = b[6]
	s.Cool.Until = int64(binary.LittleEndian.Uint64(b[7:]))
	s.NextProbe = int64(binary.LittleEndian.Uint64(b[15:]))
	s.LeaseUntil = int64(binary.LittleEndian.Uint64(b[23:]))
	s.Owner = binary.LittleEndian.Uint32(b[31:])
	return s
}

// Load reads the state under key; a missing key is a healthy instance.
func Load(st proxywasm.Store, key string) State {
	v, _, _ := st.Get(key)
	return Decode(v)
}

// maxTries bounds a compare-and-swap loop: past it another writer keeps
// winning, and the change is dropped rather than spin in a callback.
const maxTries = 8

// ErrContended is Update's answer when other writers changed the key on
// every try.
var ErrContended = proxywasm.ErrContended

// Update applies change to the state under key with compare-and-swap
// (proxywasm.Update: another worker's write in between makes it read
// again). change returns false to leave the state as it is. Update
// returns the state as stored (or as found, when change declined) and
// whether change applied.
func Update(st proxywasm.Store, key string, change func(*State) bool) (State, bool, error) {
	var buf [stateSize]byte
	var s State
	applied, err := proxywasm.Update(st, key, maxTries, func(old []byte) ([]byte, bool) {
		s = Decode(old)
		if !change(&s) {
			return nil, false
		}
		return s.AppendTo(buf[:0]), true
	})
	if errors.Is(err, ErrContended) {
		return State{}, false, err
	}
	return s, applied, err
}

// TryLease takes the probe lease of the instance under key for owner at
// now, when a probe is due and no other worker holds an unexpired lease.
// The lease lasts ttlNS: longer than the probe's timeout, so that it only
// expires for a worker that never reported.
func TryLease(st proxywasm.Store, key string, owner uint32, now, ttlNS int64) bool {
	_, ok, _ := Update(st, key, func(s *State) bool {
		if s.NextProbe > now || s.Owner != 0 && s.Owner != owner && s.LeaseUntil > now {
			return false
		}
		s.Owner, s.LeaseUntil = owner, now+ttlNS
		return true
	})
	return ok
}

// Report records owner's probe result at now, releases the lease and
// schedules the next probe. It returns the state as stored.
func Report(st proxywasm.Store, key string, owner uint32, a *Active, r Result, now int64) (State, error) {
	s, _, err := Update(st, key, func(s *State) bool {
		s.Active.Record(a, r)
		s.NextProbe = now + s.Active.IntervalMS(a)*1e6
		if s.Owner == owner {
			s.Owner, s.LeaseUntil = 0, 0
		}
		return true
	})
	return s, err
}

// NotePassive records a request's outcome on the instance under key:
// failing puts it on cooldown (see Cooldown.Fail), a success ends one. A
// success on an instance without cooldown writes nothing, so healthy
// traffic costs one read.
func NotePassive(st proxywasm.Store, key string, failing bool, retryAfter string, now int64) (State, error) {
	s, _, err := Update(st, key, func(s *State) bool {
		if !failing {
			if s.Cool == (Cooldown{}) {
				return false
			}
			s.Cool.Succeed()
			return true
		}
		s.Cool.Fail(now, retryAfter)
		return true
	})
	return s, err
}

// NewOwner returns an owner id for a lease: random, so that workers
// need not agree on one (a counter in shared data could not be created
// atomically: a write with cas 0 is unconditional). Never 0.
func NewOwner() uint32 {
	for {
		if n := rand.Uint32(); n != 0 {
			return n
		}
	}
}
