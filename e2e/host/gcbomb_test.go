package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// TestGoRuntimeNeedsPollOneoff is the test that proves the profiles bite:
// a Go guest that allocates, yields and sleeps in its callbacks dies on
// Envoy 1.33–1.38, whose WASI poll_oneoff answers ENOSYS, and lives with
// cpp-host #533 or on APISIX (docs/proxy-wasm-abi.md#poll_oneoff, golang/go#78513).
func TestGoRuntimeNeedsPollOneoff(t *testing.T) {
	m, err := host.Compile(context.Background(), hosttest.BuildGuest(t, "../testdata/gcbomb"))
	if err != nil {
		t.Fatal(err)
	}
	const requests = 3000
	for _, p := range allProfiles {
		t.Run(p.String(), func(t *testing.T) {
			vm, err := m.NewVM(context.Background(), host.VMConfig{Profile: p})
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			plugin, err := vm.NewPlugin(nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			served := 0
			for ; served < requests; served++ {
				if _, err = plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream}); err != nil {
					break
				}
			}
			if p != host.Envoy {
				if err != nil {
					t.Fatalf("died after %d requests: %v", served, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("served %d requests: the Go runtime should have died on poll_oneoff = ENOSYS", requests)
			}
			var te *host.TrapError
			if !errors.As(err, &te) || vm.Dead() == nil {
				t.Fatalf("want a dead VM and a *host.TrapError, got %v", err)
			}
			var logs strings.Builder
			for _, l := range vm.Logs() {
				logs.WriteString(l.Msg)
			}
			if !strings.Contains(logs.String(), "poll_oneoff") && !strings.Contains(err.Error(), "poll_oneoff") {
				t.Errorf("neither the logs nor the trap mention poll_oneoff:\n%v", err)
			}
			if !strings.Contains(logs.String(), "fatal error") {
				t.Errorf("the Go runtime's fatal error is not in the logs")
			}
			// Like Envoy, a failed VM refuses everything after.
			resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: rec.upstream})
			if err == nil || resp.Status != 503 || resp.Details != "wasm_fail_stream" {
				t.Errorf("a dead VM answered %d %q, %v; want the fail-closed 503", resp.Status, resp.Details, err)
			}
			t.Logf("died after %d requests", served)
		})
	}
}
