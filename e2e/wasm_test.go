package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	wasmOnce  sync.Once
	wasmBytes []byte
	wasmErr   error
)

// filterWasm returns the filter module: $AI_PROXY_WASM when the Makefile
// built it, else a fresh build of ./filter into a temporary directory.
func filterWasm(t testing.TB) []byte {
	t.Helper()
	wasmOnce.Do(func() {
		if p := os.Getenv("AI_PROXY_WASM"); p != "" {
			wasmBytes, wasmErr = os.ReadFile(p)
			return
		}
		dir, err := os.MkdirTemp("", "ai-proxy-wasm")
		if err != nil {
			wasmErr = err
			return
		}
		out := filepath.Join(dir, "ai-proxy.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "../filter")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			wasmErr = err
			t.Logf("%s", b)
			return
		}
		wasmBytes, wasmErr = os.ReadFile(out)
	})
	if wasmErr != nil {
		t.Fatalf("building the filter: %v", wasmErr)
	}
	return wasmBytes
}
