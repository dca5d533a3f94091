package examples

import (
	"context"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// checkPluginConfig configures the real filter with conf: the filter's own
// validation must accept what an example ships. The APISIX profile is used
// for {"conf": …} wrappers, Envoy's otherwise.
func checkPluginConfig(t *testing.T, where string, conf []byte) {
	t.Helper()
	ctx := context.Background()
	mod, err := host.Compile(ctx, hosttest.Filter(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []host.Profile{host.EnvoyFixed, host.APISIX} {
		vm, err := mod.NewVM(ctx, host.VMConfig{Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vm.NewPlugin(conf); err != nil {
			t.Errorf("%s under %s: the filter rejects the example's configuration: %v", where, p, err)
		}
		vm.Close()
	}
}
