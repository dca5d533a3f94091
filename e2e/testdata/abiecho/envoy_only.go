//go:build !apisix

package main

// Host functions wasm-nginx-module lacks or declares differently: built
// out with -tags apisix (e2e/testdata/proxy-wasm-abi.tsv).

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(ret *uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxyGetHeaderMapSize(t uint32, ret *uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxyGetBufferStatus(t uint32, length *uint32, flags *uint32) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, ret *uint64) uint32
