package envoytest

import (
	"path/filepath"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

// TestExamplesValidate: every shipped Envoy config passes
// `envoy --mode validate` on every pinned version, with the lab
// substitutions (the module path, and a CA file and resolver that exist on
// any machine).
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Envoy examples in %s (%v)", examplesDir, err)
	}
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		lab := envoy.NewLab(t)
		module := envoy.Module(t)
		for _, f := range files {
			cfg, err := envoy.LabConfig(example(t, filepath.Base(f)), module, lab)
			if err != nil {
				t.Fatal(err)
			}
			if out, ok := envoy.Validate(t, b, cfg, exampleEnv...); !ok {
				t.Errorf("%s does not validate in Envoy %s:\n%s", filepath.Base(f), b.Version, out)
			}
		}
	})
}
