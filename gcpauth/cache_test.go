package gcpauth

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

const testKey = "gcpauth/v1/sa@p.iam.gserviceaccount.com/kid/scope"

var t0 = time.Unix(1_750_000_000, 0)

func rec(expires, leaseUntil int64, token string) string {
	return string(appendRecord(nil, expires, leaseUntil, token))
}

// MemStore is the Store of these tests, with the proxy-wasm shared-data
// rules Lookup relies on (one version counter for all keys; a missing key
// is created whatever the CAS). The filter's own is proxywasm.MemStore,
// which gcpauth cannot import.
type MemStore struct {
	m   map[string][]byte
	cas map[string]uint32
	n   uint32
}

var errCASMismatch = errors.New("CAS mismatch")

func (s *MemStore) Get(key string) ([]byte, uint32, bool) {
	v, ok := s.m[key]
	return v, s.cas[key], ok
}

func (s *MemStore) Set(key string, value []byte, cas uint32) error {
	if cur, ok := s.cas[key]; ok && cas != 0 && cas != cur {
		return errCASMismatch
	}
	if s.m == nil {
		s.m, s.cas = map[string][]byte{}, map[string]uint32{}
	}
	s.n++
	s.m[key], s.cas[key] = bytes.Clone(value), s.n
	return nil
}

// storeWith returns a MemStore holding value under testKey, or an empty one
// for value "-".
func storeWith(value string) *MemStore {
	var s MemStore
	if value != "-" {
		s.Set(testKey, []byte(value), 0)
	}
	return &s
}

func stored(s *MemStore) string {
	v, _, ok := s.Get(testKey)
	if !ok {
		return "-"
	}
	return string(v)
}

func TestLookup(t *testing.T) {
	now := t0.Unix()
	lease := rec(0, now+LeaseSecs, "")
	for _, c := range []struct {
		name       string
		record     string // "-": no record
		wantToken  string
		wantState  State
		wantRecord string // the record afterwards
	}{
		{"no record", "-", "", Fetch, lease},
		{"fresh token", rec(now+100, 0, "ya29.tok"), "ya29.tok", Fresh, rec(now+100, 0, "ya29.tok")},
		{"token in its last second", rec(now+1, 0, "ya29.tok"), "ya29.tok", Fresh, rec(now+1, 0, "ya29.tok")},
		{"token expiring now", rec(now, 0, "ya29.tok"), "", Fetch, lease},
		{"expired token", rec(now-3600, 0, "ya29.tok"), "", Fetch, lease},
		{"token with '|'", rec(now+100, 0, "a|b|c"), "a|b|c", Fresh, rec(now+100, 0, "a|b|c")},
		{"lease held by another", rec(0, now+3, ""), "", Wait, rec(0, now+3, "")},
		{"lease held, old token expired", rec(now-1, now+3, "old"), "", Wait, rec(now-1, now+3, "old")},
		{"lease expiring now", rec(0, now, ""), "", Fetch, lease},
		{"lease expired", rec(0, now-20, ""), "", Fetch, lease},
		{"released lease", rec(0, 0, ""), "", Fetch, lease},
		{"garbage", "garbage", "", Fetch, lease},
		{"unknown version", "v2|9999999999|0|tok", "", Fetch, lease},
		{"bad number", "v1|12x|0|tok", "", Fetch, lease},
		{"negative number", "v1|-1|0|tok", "", Fetch, lease},
		{"missing field", "v1|9999999999|tok", "", Fetch, lease},
		{"empty value", "", "", Fetch, lease},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := storeWith(c.record)
			tok, st := Lookup(s, testKey, t0)
			if tok != c.wantToken || st != c.wantState {
				t.Errorf("Lookup = (%q, %v), want (%q, %v)", tok, st, c.wantToken, c.wantState)
			}
			if got := stored(s); got != c.wantRecord {
				t.Errorf("record %q, want %q", got, c.wantRecord)
			}
		})
	}
}

// TestLifecycle walks one key through fetch, wait, complete, expiry, failure
// and a fetcher that never comes back.
func TestLifecycle(t *testing.T) {
	var s MemStore
	at := func(sec int64) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	steps := []struct {
		what      string
		do        func() (string, State)
		wantToken string
		wantState State
	}{
		{"worker A, cold", func() (string, State) { return Lookup(&s, testKey, at(0)) }, "", Fetch},
		{"worker B while A fetches", func() (string, State) { return Lookup(&s, testKey, at(1)) }, "", Wait},
		{"A completes; B retries", func() (string, State) {
			Complete(&s, testKey, "tok1", 100, at(1))
			return Lookup(&s, testKey, at(2))
		}, "tok1", Fresh},
		{"token expired", func() (string, State) { return Lookup(&s, testKey, at(101)) }, "", Fetch},
		{"fetch fails; next caller fetches at once", func() (string, State) {
			Fail(&s, testKey)
			return Lookup(&s, testKey, at(102))
		}, "", Fetch},
		{"fetcher vanished; within the lease", func() (string, State) { return Lookup(&s, testKey, at(102+LeaseSecs-1)) }, "", Wait},
		{"fetcher vanished; lease over", func() (string, State) { return Lookup(&s, testKey, at(102+LeaseSecs)) }, "", Fetch},
		{"late Fail after a Complete keeps the token", func() (string, State) {
			Complete(&s, testKey, "tok2", 100, at(200))
			Fail(&s, testKey)
			return Lookup(&s, testKey, at(201))
		}, "tok2", Fresh},
		{"ttl 0 is not cached", func() (string, State) {
			Complete(&s, testKey, "tok3", 0, at(400))
			return Lookup(&s, testKey, at(400))
		}, "", Fetch},
	}
	for _, st := range steps {
		tok, state := st.do()
		if tok != st.wantToken || state != st.wantState {
			t.Fatalf("%s: got (%q, %v), want (%q, %v)", st.what, tok, state, st.wantToken, st.wantState)
		}
	}
}

// staleStore is a worker's view of a shared MemStore when it read before
// the other workers wrote: Get answers from a snapshot, Set goes to the
// shared store (and its CAS check).
type staleStore struct {
	shared *MemStore
	value  []byte
	cas    uint32
	ok     bool
}

func (s *staleStore) Get(string) ([]byte, uint32, bool) { return s.value, s.cas, s.ok }
func (s *staleStore) Set(key string, value []byte, cas uint32) error {
	return s.shared.Set(key, value, cas)
}

// TestLookupRace lets n workers read the same record before any of them
// writes; exactly one may be told to fetch.
func TestLookupRace(t *testing.T) {
	now := t0.Unix()
	for _, record := range []string{"-", rec(now-1, 0, "expired"), rec(0, now-1, ""), "garbage"} {
		for _, n := range []int{2, 3, 16} {
			t.Run(fmt.Sprintf("%s/%d workers", record, n), func(t *testing.T) {
				shared := storeWith(record)
				// Other keys were written first, as in a busy process: the
				// versions are not small.
				for i := range 1000 {
					shared.Set(fmt.Sprint("other", i), []byte("x"), 0)
				}
				v, cas, ok := shared.Get(testKey)
				states := map[State]int{}
				for range n {
					_, st := Lookup(&staleStore{shared, v, cas, ok}, testKey, t0)
					states[st]++
				}
				if states[Fetch] != 1 || states[Wait] != n-1 {
					t.Fatalf("states %v, want 1 Fetch and %d Wait", states, n-1)
				}
				// And the winner's lease is what the shared store holds.
				if got, want := stored(shared), rec(0, now+LeaseSecs, ""); got != want {
					t.Fatalf("record %q, want %q", got, want)
				}
			})
		}
	}
}

func TestCacheKey(t *testing.T) {
	sa := fixtureAccount(t)
	got := sa.CacheKey(Scope)
	want := "gcpauth/v1/ai-gateway-test@test-project-123456.iam.gserviceaccount.com/5e10c5b5a608a5e354cc52e77008f5a5831cd843/https://www.googleapis.com/auth/cloud-platform"
	if got != want {
		t.Errorf("CacheKey = %q, want %q", got, want)
	}
	if sa.CacheKey("other") == got {
		t.Error("CacheKey ignores the scope")
	}
}

func BenchmarkLookupFresh(b *testing.B) {
	s := storeWith(rec(t0.Unix()+3600, 0, "ya29.c.c0ASRK0GZ_TEST_ONLY_not_a_real_token_4bGrQ8Xl2wA7mCk"))
	b.ReportAllocs()
	for b.Loop() {
		if _, st := Lookup(s, testKey, t0); st != Fresh {
			b.Fatal(st)
		}
	}
}

// FuzzLookup stores arbitrary bytes as the record: Lookup must not panic,
// and may only answer Fresh with the token of a valid, unexpired record.
func FuzzLookup(f *testing.F) {
	f.Add([]byte(rec(t0.Unix()+5, 0, "tok")))
	f.Add([]byte("v1|||"))
	f.Add([]byte("v1|99999999999999999999|0|x"))
	f.Fuzz(func(t *testing.T, value []byte) {
		s := storeWith(string(value))
		tok, st := Lookup(s, testKey, t0)
		r, ok := parseRecord(value)
		switch st {
		case Fresh:
			if !ok || string(r.token) != tok || tok == "" || t0.Unix() >= r.expires {
				t.Fatalf("Fresh %q from record %q", tok, value)
			}
		case Fetch, Wait:
			if tok != "" {
				t.Fatalf("%v with token %q", st, tok)
			}
		default:
			t.Fatalf("state %v", st)
		}
	})
}
