package health

import (
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

var (
	ok200   = Result{Status: 200}
	err500  = Result{Status: 500}
	tcpFail = Result{TCPFailure: true}
	timeout = Result{Timeout: true}
	neither = Result{Status: 401}
)

// The active checks take an instance out after unhealthy thresholds of one
// kind in a row, and back in after healthy.successes successes in a row.
func TestActiveStateMachine(t *testing.T) {
	a := DefaultActive() // successes 2, http_failures 5, tcp_failures 2, timeouts 3
	tests := []struct {
		name      string
		start     Counters
		results   []Result
		unhealthy []bool // after each result
	}{
		{"5 http failures take it out", Counters{}, []Result{err500, err500, err500, err500, err500},
			[]bool{false, false, false, false, true}},
		{"a success resets the http failures", Counters{}, []Result{err500, err500, err500, err500, ok200, err500, err500},
			[]bool{false, false, false, false, false, false, false}},
		{"2 tcp failures take it out", Counters{}, []Result{tcpFail, tcpFail}, []bool{false, true}},
		{"3 timeouts take it out", Counters{}, []Result{timeout, timeout, timeout}, []bool{false, false, true}},
		{"failure kinds count apart", Counters{}, []Result{tcpFail, timeout, timeout, err500}, []bool{false, false, false, false}},
		{"a status in neither list counts for nothing", Counters{}, []Result{tcpFail, neither, tcpFail}, []bool{false, false, true}},
		{"2 successes bring it back", Counters{Unhealthy: true}, []Result{ok200, ok200}, []bool{true, false}},
		{"a failure resets the successes", Counters{Unhealthy: true}, []Result{ok200, err500, ok200, ok200}, []bool{true, true, true, false}},
		{"302 is healthy by default", Counters{Unhealthy: true}, []Result{{Status: 302}, {Status: 302}}, []bool{true, false}},
		{"429 is unhealthy by default", Counters{}, []Result{{Status: 429}, {Status: 429}, {Status: 429}, {Status: 429}, {Status: 429}},
			[]bool{false, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.start
			for i, r := range tt.results {
				was := c.Unhealthy
				flipped := c.Record(&a, r)
				if c.Unhealthy != tt.unhealthy[i] || flipped != (was != c.Unhealthy) {
					t.Fatalf("after result %d (%+v): unhealthy %v flipped %v, want unhealthy %v", i, r, c.Unhealthy, flipped, tt.unhealthy[i])
				}
			}
		})
	}
}

// Thresholds and status lists come from the configuration; type tcp counts
// any answer as a success.
func TestActiveConfiguredThresholds(t *testing.T) {
	a := DefaultActive()
	a.Unhealthy.HTTPFailures, a.Healthy.Successes = 1, 1
	a.Unhealthy.Statuses, a.Healthy.Statuses = []int{418}, []int{204}
	var c Counters
	if c.Record(&a, err500); c.Unhealthy {
		t.Fatal("500 is not in the configured unhealthy statuses")
	}
	if c.Record(&a, Result{Status: 418}); !c.Unhealthy {
		t.Fatal("one 418 should take it out with http_failures 1")
	}
	if c.Record(&a, ok200); !c.Unhealthy {
		t.Fatal("200 is not in the configured healthy statuses")
	}
	if c.Record(&a, Result{Status: 204}); c.Unhealthy {
		t.Fatal("one 204 should bring it back with successes 1")
	}
	a.Type = "tcp"
	c = Counters{Unhealthy: true}
	c.Record(&a, err500)
	if c.Record(&a, err500); c.Unhealthy {
		t.Fatal("type tcp: two answers, whatever their status, should bring it back")
	}
	if got := c.IntervalMS(&a); got != a.Healthy.IntervalMS {
		t.Fatalf("healthy interval %d", got)
	}
}

// A failing request puts the instance on cooldown: Retry-After's seconds or
// date when given, else 1 s doubling per failure in a row up to 60 s; a
// success ends it.
func TestCooldown(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	s := int64(time.Second)
	tests := []struct {
		name       string
		failures   int // in a row before this one
		retryAfter string
		want       int64 // cooldown from now
	}{
		{"first failure without Retry-After", 0, "", 1 * s},
		{"second failure doubles", 1, "", 2 * s},
		{"fifth", 4, "", 16 * s},
		{"capped at 60 s", 6, "", 60 * s},
		{"capped far out", 200, "", 60 * s},
		{"Retry-After seconds", 0, "7", 7 * s},
		{"Retry-After seconds beat the backoff", 5, "3", 3 * s},
		{"Retry-After HTTP-date", 0, "Fri, 02 Jan 2026 03:04:35 GMT", 30 * s},
		{"Retry-After date in the past", 0, "Fri, 02 Jan 2026 03:00:00 GMT", 0},
		{"Retry-After bounded to an hour", 0, "999999", 3600 * s},
		{"unreadable Retry-After backs off", 2, "soon", 4 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cooldown{Failures: uint8(min(tt.failures, 255))}
			c.Fail(now, tt.retryAfter)
			if got := c.Until - now; got != tt.want {
				t.Fatalf("cooldown %v, want %v", time.Duration(got), time.Duration(tt.want))
			}
			if c.Cooling(now) != (tt.want > 0) || c.Cooling(c.Until) {
				t.Fatal("Cooling disagrees with Until")
			}
			c.Succeed()
			if c.Cooling(now) || c.Failures != 0 {
				t.Fatalf("a success should end the cooldown and the backoff: %+v", c)
			}
		})
	}
}

func TestFailing(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 404: false, 429: true, 500: true, 503: true, 599: true} {
		if Failing(status) != want {
			t.Errorf("Failing(%d) = %v", status, !want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := State{Active: Counters{Unhealthy: true, Successes: 1, HTTPFailures: 2, TCPFailures: 3, Timeouts: 4},
		Cool: Cooldown{Until: 5, Failures: 6}, NextProbe: 7, Owner: 8, LeaseUntil: 9}
	if got := Decode(s.AppendTo(nil)); got != s {
		t.Fatalf("round trip: %+v, want %+v", got, s)
	}
	if Decode([]byte("junk")) != (State{}) {
		t.Fatal("junk should read as the zero state")
	}
}

// Two workers over one store: exactly one holds the probe lease at a
// time, the result is seen by both, and the next probe waits for the
// interval whoever asks.
func TestProbeLeaseTwoWorkers(t *testing.T) {
	var st proxywasm.MemStore
	a := DefaultActive()
	a.Unhealthy.TCPFailures = 1
	const key, w1, w2 = "ai-proxy.health.x", 1, 2
	ttl := int64(2 * time.Second)
	now := int64(1e18)

	if !TryLease(&st, key, w1, now, ttl) {
		t.Fatal("worker 1 should take the free lease")
	}
	if TryLease(&st, key, w2, now, ttl) {
		t.Fatal("worker 2 took a lease worker 1 holds")
	}
	if s, err := Report(&st, key, w1, &a, tcpFail, now+int64(time.Millisecond)); err != nil || !s.Active.Unhealthy || s.Owner != 0 {
		t.Fatalf("report: %+v %v", s, err)
	}
	if !Load(&st, key).Active.Unhealthy {
		t.Fatal("worker 2 should see the instance unhealthy")
	}
	if TryLease(&st, key, w2, now+int64(500*time.Millisecond), ttl) {
		t.Fatal("a probe before unhealthy.interval should not be due")
	}
	later := now + int64(2*time.Second)
	if !TryLease(&st, key, w2, later, ttl) || TryLease(&st, key, w1, later, ttl) {
		t.Fatal("once due, exactly one worker (the first to ask) should hold the lease")
	}
	// Worker 2 never reports: its lease expires and worker 1 takes over.
	if TryLease(&st, key, w1, later+ttl-1, ttl) {
		t.Fatal("the lease should hold until it expires")
	}
	if !TryLease(&st, key, w1, later+ttl+1, ttl) {
		t.Fatal("an expired lease should go to the next worker")
	}
}

// Interleaved compare-and-swap: a worker whose read is stale retries and
// keeps the other's change.
func TestUpdateRetriesOnCASMismatch(t *testing.T) {
	var st proxywasm.MemStore
	const key = "k"
	if _, err := NotePassive(&st, key, true, "10", 0); err != nil {
		t.Fatal(err)
	}
	first := true
	s, ok, err := Update(&st, key, func(s *State) bool {
		if first {
			first = false
			// Another worker writes between this read and the write.
			if _, err := Report(&st, key, 9, &Active{Type: "http", Unhealthy: Unhealthy{HTTPFailures: 1, Statuses: []int{500}}}, err500, 0); err != nil {
				t.Fatal(err)
			}
		}
		s.Cool.Failures++
		return true
	})
	if err != nil || !ok || !s.Active.Unhealthy || s.Cool.Failures != 2 || s.Cool.Until != int64(10*time.Second) {
		t.Fatalf("update: %+v %v %v", s, ok, err)
	}
	if Load(&st, key) != s {
		t.Fatal("the store should hold what Update returned")
	}
}

// A success on an instance without cooldown writes nothing.
func TestNotePassiveSuccessWritesNothing(t *testing.T) {
	var st proxywasm.MemStore
	NotePassive(&st, "k", false, "", 0)
	_, cas, _ := st.Get("k")
	NotePassive(&st, "k", false, "", 0)
	if _, cas2, _ := st.Get("k"); cas2 != cas {
		t.Fatal("a success without cooldown wrote the state")
	}
	NotePassive(&st, "k", true, "", 0)
	if s, _ := NotePassive(&st, "k", false, "", 1); s.Cool != (Cooldown{}) {
		t.Fatalf("a success should clear the cooldown: %+v", s.Cool)
	}
}
