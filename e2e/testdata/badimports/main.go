// Command badimports is a module the ABI conformance check must reject: it
// imports proxy_get_log_level (absent in APISIX) and, through os.Stat,
// WASI functions Envoy 1.33–1.38 lack.
package main

import (
	"os"
	"unsafe"
)

func main() {}

//go:wasmimport env proxy_get_log_level
func getLogLevel(ret unsafe.Pointer) uint32

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) *byte {
	b := make([]byte, size+1)
	return &b[0]
}

//go:wasmexport proxy_on_configure
func onConfigure(id, size uint32) bool {
	var level uint32
	getLogLevel(unsafe.Pointer(&level))
	_, err := os.Stat("/etc/ai-proxy")
	return err == nil
}
