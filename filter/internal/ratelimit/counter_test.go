package ratelimit

import (
	"errors"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// Fixed windows of 60 s are aligned on the epoch: [60, 120) is one window,
// 120 starts the next, and Reset counts down to the window's end.
func TestFixedWindowEdges(t *testing.T) {
	type step struct {
		now, cost     int64 // cost 0: Peek
		remain, reset int64
	}
	tests := []struct {
		name  string
		limit int64
		steps []step
	}{
		{"fresh counter has the whole limit", 100, []step{{now: 60, remain: 100, reset: 60}}},
		{"spending within one window", 100, []step{
			{now: 60, cost: 30, remain: 70, reset: 60},
			{now: 119, cost: 20, remain: 50, reset: 1},
			{now: 119, remain: 50, reset: 1},
		}},
		{"the first second of the next window starts afresh", 100, []step{
			{now: 119, cost: 100, remain: 0, reset: 1},
			{now: 120, remain: 100, reset: 60},
			{now: 120, cost: 1, remain: 99, reset: 60},
		}},
		{"a window skipped entirely", 100, []step{
			{now: 61, cost: 40, remain: 60, reset: 59},
			{now: 250, remain: 100, reset: 50},
		}},
		{"the last request may overspend: remaining stays 0", 10, []step{
			{now: 0, cost: 8, remain: 2, reset: 60},
			{now: 1, cost: 50, remain: 0, reset: 59},
			{now: 2, remain: 0, reset: 58},
		}},
	}
	for _, tt := range tests {
		var st proxywasm.MemStore
		for i, s := range tt.steps {
			var q Quota
			if s.cost == 0 {
				q = Peek(&st, "k", tt.limit, 60, s.now)
			} else {
				var err error
				if q, err = Add(&st, "k", tt.limit, 60, s.now, s.cost); err != nil {
					t.Fatalf("%s: step %d: %v", tt.name, i, err)
				}
			}
			want := Quota{Limit: tt.limit, Remaining: s.remain, Reset: s.reset}
			if q != want {
				t.Errorf("%s: step %d at %d: %+v, want %+v", tt.name, i, s.now, q, want)
			}
		}
	}
}

func TestExhausted(t *testing.T) {
	for _, tt := range []struct {
		remaining int64
		want      bool
	}{{0, true}, {1, false}, {100, false}} {
		if got := (Quota{Limit: 100, Remaining: tt.remaining}).Exhausted(); got != tt.want {
			t.Errorf("remaining %d: exhausted %v, want %v", tt.remaining, got, tt.want)
		}
	}
}

// interleaved is one worker's view of a store shared with another worker,
// which writes between this worker's Get and its Set: the other worker's
// Add runs just before each of this worker's first n Sets.
type interleaved struct {
	shared *proxywasm.MemStore
	other  func()
	n      int
}

func (s *interleaved) Get(key string) ([]byte, uint32, bool) { return s.shared.Get(key) }

func (s *interleaved) Set(key string, value []byte, cas uint32) error {
	if s.n > 0 {
		s.n--
		s.other()
	}
	return s.shared.Set(key, value, cas)
}

// Two workers updating one counter at the same time lose no tokens: the
// one whose compare-and-swap fails reads again and adds to the other's
// count, also when both found the counter missing and race to create it.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	for _, existing := range []bool{false, true} {
		var shared proxywasm.MemStore
		if existing {
			if _, err := Add(&shared, "k", 1000, 60, 5, 1); err != nil {
				t.Fatal(err)
			}
		}
		otherAdds := 0
		a := &interleaved{shared: &shared, n: 3, other: func() {
			otherAdds++
			if _, err := Add(&shared, "k", 1000, 60, 5, 10); err != nil {
				t.Fatal(err)
			}
		}}
		q, err := Add(a, "k", 1000, 60, 5, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(100 + 10*otherAdds)
		if existing {
			want++
		}
		if got := Peek(&shared, "k", 1000, 60, 5); got.Remaining != 1000-want || q.Remaining != 1000-want {
			t.Errorf("existing %v: remaining %d (Add said %d), want %d after %d interleaved adds", existing, got.Remaining, q.Remaining, 1000-want, otherAdds)
		}
	}
}

// Under endless contention Add gives up after MaxAttempts instead of
// looping, and says the tokens were not counted.
func TestContendedGivesUp(t *testing.T) {
	var shared proxywasm.MemStore
	a := &interleaved{shared: &shared, n: MaxAttempts, other: func() { Add(&shared, "k", 10, 60, 5, 1) }}
	if _, err := Add(a, "k", 10, 60, 5, 3); !errors.Is(err, ErrContended) {
		t.Fatalf("Add = %v, want ErrContended", err)
	}
	if got := Peek(&shared, "k", 10, 60, 5).Remaining; got != 10-MaxAttempts && got != 0 {
		t.Errorf("remaining %d, want only the other worker's %d tokens spent", got, MaxAttempts)
	}
}

type failingStore struct{ proxywasm.MemStore }

var errFull = errors.New("shared data: out of memory")

func (s *failingStore) Set(string, []byte, uint32) error { return errFull }

// A store that fails (not a lost race) is reported at once.
func TestStoreFailure(t *testing.T) {
	if _, err := Add(&failingStore{}, "k", 10, 60, 5, 3); err != errFull {
		t.Fatalf("Add = %v, want the store's error", err)
	}
}

// A record that is not a counter (another use of the key, or damage) is an
// empty counter, replaced by the next Add.
func TestForeignRecord(t *testing.T) {
	var st proxywasm.MemStore
	st.Set("k", []byte("v1|whatever"), 0)
	if q := Peek(&st, "k", 10, 60, 5); q.Remaining != 10 {
		t.Fatalf("remaining %d, want 10", q.Remaining)
	}
	if q, err := Add(&st, "k", 10, 60, 5, 4); err != nil || q.Remaining != 6 {
		t.Fatalf("Add = %+v, %v", q, err)
	}
}

// BenchmarkBudgetCheckAndUpdate is a request's work on one budget in
// shared data: the check before it and the charge after it.
func BenchmarkBudgetCheckAndUpdate(b *testing.B) {
	var st proxywasm.MemStore
	const key = "ai-rate-limiting|3f2a9|instance|openai-instance"
	b.ReportAllocs()
	for i := range b.N {
		now := int64(1_700_000_000 + i/1000)
		if !Peek(&st, key, 1<<40, 60, now).Exhausted() {
			Add(&st, key, 1<<40, 60, now, 150)
		}
	}
}

// A window of 0 (which validation refuses) counts per second instead of
// dividing by zero.
func TestZeroWindow(t *testing.T) {
	var st proxywasm.MemStore
	if q, err := Add(&st, "k", 10, 0, 5, 3); err != nil || q.Remaining != 7 || q.Reset != 1 {
		t.Fatalf("Add = %+v, %v", q, err)
	}
}
