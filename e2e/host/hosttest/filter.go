package hosttest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

var (
	filterOnce sync.Once
	filterWasm []byte
	filterErr  error
)

// Filter returns the ai-proxy module: the file named by $AI_PROXY_WASM
// (make test builds it once), else a fresh build of the module's ./filter.
func Filter(t testing.TB) []byte {
	t.Helper()
	filterOnce.Do(func() {
		if p := os.Getenv("AI_PROXY_WASM"); p != "" {
			filterWasm, filterErr = os.ReadFile(p)
			return
		}
		dir, err := os.Getwd()
		for err == nil {
			if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				err = os.ErrNotExist
			}
			dir = parent
		}
		if err != nil {
			filterErr = err
			return
		}
		filterWasm, filterErr = host.BuildWasm(filepath.Join(dir, "filter"))
	})
	if filterErr != nil {
		t.Fatalf("loading the filter module: %v", filterErr)
	}
	return filterWasm
}
