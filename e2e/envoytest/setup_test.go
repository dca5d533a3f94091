// Package envoytest runs the filter in real Envoy, through the shipped
// examples/envoy configs with only the lab substitutions (e2e/envoy), on
// every pinned Envoy version (make envoy).
package envoytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

// examplesDir is where the shipped Envoy configs live.
const examplesDir = "../../examples/envoy"

// example reads one shipped Envoy config.
func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forEachEnvoy runs f as a parallel subtest per Envoy binary.
func forEachEnvoy(t *testing.T, f func(t *testing.T, b envoy.Binary)) {
	for _, b := range envoy.Binaries(t) {
		t.Run("envoy-"+b.Version, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// gateway is the openai example running in Envoy b against lab.
type gateway struct {
	*envoy.Envoy
	URL string // http://127.0.0.1:port of the llm_gateway listener
}

// exampleEnv is the environment the examples' host_env_keys pass to the
// filter.
var exampleEnv = []string{"OPENAI_API_KEY=" + operatorKey}

// startExample starts examples/envoy/<name> in Envoy b with the lab
// substitutions and returns its gateway listener.
func startExample(t *testing.T, b envoy.Binary, lab *envoy.Lab, name string) gateway {
	t.Helper()
	cfg, err := envoy.LabConfig(example(t, name), envoy.Module(t), lab)
	if err != nil {
		t.Fatal(err)
	}
	e := envoy.Start(t, b, cfg, envoy.Options{Env: exampleEnv})
	return gateway{Envoy: e, URL: "http://" + e.ListenerAddr(t, "llm_gateway")}
}
