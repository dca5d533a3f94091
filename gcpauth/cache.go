package gcpauth

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// Store is a key-value store with compare-and-swap, shaped after proxy-wasm
// shared data (proxy_get_shared_data / proxy_set_shared_data), which all VMs
// (Envoy workers) of a plugin share.
//
// Get returns the value, its CAS version (never 0 for a stored key) and
// whether the key exists; the caller does not modify the value.
// Set stores value if cas is 0, if cas equals the key's version, or if the
// key does not exist (whatever cas is), and gives the key a new version. It
// returns an error on a CAS mismatch and also when the store failed, so a
// store that cannot store makes Lookup answer Wait, never Fetch twice.
type Store interface {
	Get(key string) (value []byte, cas uint32, ok bool)
	Set(key string, value []byte, cas uint32) error
}

// State is Lookup's verdict.
type State uint8

const (
	// Fresh: the returned token is valid; use it.
	Fresh State = iota + 1
	// Fetch: this caller holds the lease and must get a token (Assertion,
	// token request, ParseTokenResponse), then call Complete, or Fail on
	// error.
	Fetch
	// Wait: another caller holds the lease and is fetching. Retry Lookup
	// later (next tick, after a short callout, ...).
	Wait
)

func (s State) String() string {
	switch s {
	case Fresh:
		return "Fresh"
	case Fetch:
		return "Fetch"
	case Wait:
		return "Wait"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// LeaseSecs is how long a Fetch lease lasts. A fetcher that neither
// completes nor fails within it (its VM crashed, its callout was lost) is
// presumed dead and the next Lookup fetches again. Token callouts must time
// out well before it.
const LeaseSecs = 10

// createCAS is the CAS Lookup passes when it found no record. proxy-wasm
// creates a missing key whatever the CAS, but if another worker created the
// key in between, the set compares against that record's version, which
// the host hands out from one process-wide counter starting at 1 (0 is
// skipped). The largest value is only reached after 2^32-1 sets in the
// process, so the set fails as it should; were the versions ever to
// coincide, two workers would fetch a token once each, which is harmless.
const createCAS = math.MaxUint32

// Lookup reads the cached token under key and tells the caller what to do.
// Exactly one of the callers racing on a missing or expired token gets
// Fetch, because the lease is taken with compare-and-swap; the others get
// Wait until the fetcher stores a token, fails, or its lease expires.
//
// The record under key is the text
//
//	v1|<expires_unix>|<lease_until_unix>|<token>
//
// A token is fresh while now < expires_unix; a lease is held while
// now < lease_until_unix. A record that does not parse is treated as empty
// and replaced.
func Lookup(st Store, key string, now time.Time) (token string, state State) {
	t := now.Unix()
	val, cas, ok := st.Get(key)
	rec, _ := parseRecord(val) // a missing or malformed record is an empty one
	if len(rec.token) > 0 && t < rec.expires {
		return string(rec.token), Fresh
	}
	if t < rec.leaseUntil {
		return "", Wait
	}
	if !ok {
		cas = createCAS
	}
	if st.Set(key, appendRecord(nil, 0, t+LeaseSecs, ""), cas) != nil {
		return "", Wait // another caller took the lease first
	}
	return "", Fetch
}

// Complete stores token, valid for ttl seconds from now (see CacheTTL), and
// releases the lease. It writes unconditionally: if a fetch outlived its
// lease and a second fetcher also completes, the last token stored wins,
// and both are valid. With ttl <= 0 the token is not cached.
func Complete(st Store, key, token string, ttl int64, now time.Time) {
	exp := now.Unix() + ttl
	if ttl <= 0 {
		exp, token = 0, ""
	}
	st.Set(key, appendRecord(nil, exp, 0, token), 0)
}

// Fail releases the lease after a failed fetch, so that the next Lookup
// fetches again. A record that is no longer a lease (a token was stored
// meanwhile) is left alone. If the fetch outlived its lease, the lease
// released may be another fetcher's: at worst one more token request.
func Fail(st Store, key string) {
	val, cas, ok := st.Get(key)
	if !ok {
		return
	}
	if rec, valid := parseRecord(val); valid && len(rec.token) > 0 {
		return
	}
	st.Set(key, appendRecord(nil, 0, 0, ""), cas) // on mismatch someone else moved on
}

// CacheKey returns the Store key for this service account's tokens for
// scope. It names the account, its key id and the scope, not the secret.
func (sa *ServiceAccount) CacheKey(scope string) string {
	return "gcpauth/v1/" + sa.ClientEmail + "/" + sa.PrivateKeyID + "/" + scope
}

type record struct {
	expires, leaseUntil int64
	token               []byte
}

func appendRecord(b []byte, expires, leaseUntil int64, token string) []byte {
	b = append(b, "v1|"...)
	b = strconv.AppendInt(b, expires, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, leaseUntil, 10)
	b = append(b, '|')
	return append(b, token...)
}

// parseRecord parses a v1 record; ok is false (and r empty) otherwise.
func parseRecord(b []byte) (r record, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("v1|"))
	if !found {
		return record{}, false
	}
	var exp, lease []byte
	if exp, rest, found = bytes.Cut(rest, []byte("|")); !found {
		return record{}, false
	}
	if lease, rest, found = bytes.Cut(rest, []byte("|")); !found {
		return record{}, false
	}
	var ok1, ok2 bool
	r.expires, ok1 = atoi(exp)
	r.leaseUntil, ok2 = atoi(lease)
	if !ok1 || !ok2 {
		return record{}, false
	}
	r.token = rest
	return r, true
}

// atoi parses a non-negative decimal of at most 18 digits (no overflow).
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
