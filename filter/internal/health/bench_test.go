package health

import (
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// BenchmarkProbeCycle is one probe cycle of one instance as a tick runs
// it, minus the callout: take the lease (a read and a compare-and-swap
// write) and record the result (another read and write). In the filter
// each store call is a proxy-wasm shared-data host call.
func BenchmarkProbeCycle(b *testing.B) {
	var st proxywasm.MemStore
	a := DefaultActive()
	now := int64(1e18)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !TryLease(&st, "k", 1, now, 3e9) {
			b.Fatal("lease refused")
		}
		if _, err := Report(&st, "k", 1, &a, Result{Status: 200}, now); err != nil {
			b.Fatal(err)
		}
		now += a.Healthy.IntervalMS * 1e6
	}
}

// BenchmarkHealthRead is a worker's read of an instance's shared record,
// what every tick (and a pick, at most every 250 ms) costs per instance.
func BenchmarkHealthRead(b *testing.B) {
	var st proxywasm.MemStore
	NotePassive(&st, "k", true, "", 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if Load(&st, "k").Cool.Failures != 1 {
			b.Fatal("state lost")
		}
	}
}
