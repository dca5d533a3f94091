package gateway

import (
	"fmt"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// StartClusters starts the builtin mocks cfg's clusters name and returns
// the clusters table with every builtin:<provider> replaced by its mock's
// base URL, for a host that is not this gateway (make run HOST=envoy).
// stop closes the mocks.
func StartClusters(cfg *Config) (targets map[string]string, stop func(), err error) {
	mocks := map[string]*mock.Server{}
	stop = func() {
		for _, m := range mocks {
			m.Close()
		}
	}
	targets = map[string]string{}
	for name, target := range cfg.Clusters {
		b, ok := strings.CutPrefix(target, "builtin:")
		if !ok {
			targets[name] = strings.TrimSuffix(target, "/")
			continue
		}
		start, ok := builtins[b]
		if !ok {
			stop()
			return nil, nil, fmt.Errorf("gateway config: cluster %q: no builtin mock %q", name, b)
		}
		if mocks[b] == nil {
			mocks[b] = start()
		}
		targets[name] = mocks[b].URL
	}
	return targets, stop, nil
}
