package examples

import (
	"context"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// checkPluginConfig configures the real filter with conf in a VM whose
// environment is env, the variables the example gives the VM: the filter's
// own validation must accept what an example ships, and every $env://
// reference must name a variable the example passes.
func checkPluginConfig(t *testing.T, where string, conf []byte, env map[string]string) {
	t.Helper()
	ctx := context.Background()
	mod, err := host.Compile(ctx, hosttest.Filter(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []host.Profile{host.EnvoyFixed, host.APISIX} {
		vm, err := mod.NewVM(ctx, host.VMConfig{Profile: p, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vm.NewPlugin(conf); err != nil {
			t.Errorf("%s under %s: the filter rejects the example's configuration: %v", where, p, err)
		}
		vm.Close()
	}
}

// hostEnv stands in for variables the host copies from its own
// environment (Envoy's host_env_keys, Istio's valueFrom: HOST, APISIX's
// nginx_config.envs): each gets a placeholder value.
func hostEnv(env map[string]string, names ...string) map[string]string {
	if env == nil {
		env = map[string]string{}
	}
	for _, n := range names {
		env[n] = "placeholder-for-" + n
	}
	return env
}
