// Command filter is the ai-proxy proxy-wasm module. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ai-proxy.wasm ./filter
//
// The plugin logic lives in internal/core and knows nothing of Wasm; the
// files tagged wasip1 here are the thin ABI shell that turns proxy-wasm
// callbacks into core events and core decisions into host calls.
package main

// main is required by the toolchain but never called: -buildmode=c-shared
// builds a WASI reactor whose host calls _initialize and then the exports.
func main() {}
