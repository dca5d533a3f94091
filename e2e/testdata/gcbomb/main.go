// Command gcbomb is a test guest whose request-headers callback allocates,
// yields and sleeps: the Go runtime then needs WASI poll_oneoff, which
// Envoy 1.33–1.38 answers with ENOSYS (docs/proxy-wasm-abi.md#poll_oneoff). Built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared by the host tests.
package main

import (
	"runtime"
	"time"
)

func main() {}

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) *byte {
	b := make([]byte, size+1)
	return &b[0]
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {}

//go:wasmexport proxy_on_configure
func onConfigure(id uint32, size int32) bool { return true }

var keep [][]byte

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id uint32, n int32, eos bool) uint32 {
	for i := 0; i < 8; i++ {
		keep = append(keep, make([]byte, 32<<10))
		if len(keep) > 32 {
			keep = keep[1:]
		}
	}
	runtime.Gosched()
	time.Sleep(time.Microsecond)
	return 0
}

//go:wasmexport proxy_on_done
func onDone(id uint32) bool { return true }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {}
