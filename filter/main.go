// Command filter is the ai-proxy proxy-wasm module. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ai-proxy.wasm ./filter
//
// The plugin logic lives in internal/core and knows nothing of Wasm; the
// ABI shell internal/proxywasm turns proxy-wasm callbacks into core events
// and core decisions into host calls. This command only joins the two.
package main

import (
	"syscall"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/core"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// main is required by the toolchain but never called: -buildmode=c-shared
// builds a WASI reactor whose host calls _initialize and then the exports.
func main() {}

func init() { proxywasm.Register(configure) }

// configure makes the root of one ai-proxy or ai-proxy-multi configuration.
func configure(config []byte, caps proxywasm.Caps, host proxywasm.RootHost) (proxywasm.Root, error) {
	cfg, err := core.ParsePluginConfig(config, getenv)
	if err != nil {
		return nil, err
	}
	return aiProxy{core.NewMultiPlugin(cfg, caps, host)}, nil
}

// aiProxy is a configured core.Plugin as the shell's Root.
type aiProxy struct{ *core.Plugin }

// NewStream starts a request, in a finished core.Stream when the shell
// offers one, which keeps its buffers.
func (p aiProxy) NewStream(h proxywasm.Host, reuse proxywasm.Stream) proxywasm.Stream {
	if s, ok := reuse.(*core.Stream); ok {
		s.Reuse(p.Plugin, h)
		return s
	}
	return p.Plugin.NewStream(h)
}

func getenv(k string) string {
	v, _ := syscall.Getenv(k)
	return v
}
