// Command baseline is the floor for the filter's benchmarks: a guest that
// makes exactly the host calls a scenario cannot avoid and nothing else.
// Its plugin configuration picks the scenario:
//
//	noop     no host calls at all (the harness floor)
//	headers  read the request headers with one pairs call, replace one, add one
//	body     buffer the request body, then get it and replace it with itself
//	chunk    get every response chunk and replace it with itself
package main

import "unsafe"

func main() {}

//go:wasmimport env proxy_get_buffer_bytes
func getBufferBytes(bt, start, max uint32, ret unsafe.Pointer, retLen *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func setBufferBytes(bt, start, size uint32, data unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func getPairs(mt uint32, ret unsafe.Pointer, retLen *uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func replaceHeader(mt uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func addHeader(mt uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

var mode string

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
func onConfigure(id, size uint32) bool {
	var raw *byte
	var n uint32
	getBufferBytes(7, 0, size, unsafe.Pointer(&raw), &n)
	if raw != nil {
		mode = string(unsafe.Slice(raw, n))
	}
	return true
}

func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n uint32, eos bool) uint32 {
	if mode == "headers" {
		var raw *byte
		var size uint32
		getPairs(0, unsafe.Pointer(&raw), &size)
		k, kl := str(":authority")
		v, vl := str("api.openai.com")
		replaceHeader(0, k, kl, v, vl)
		k, kl = str("authorization")
		v, vl = str("Bearer sk-operator")
		addHeader(0, k, kl, v, vl)
	}
	return 0
}

// copyBuffer gets a whole buffer and writes it back: the floor of any
// body rewrite.
func copyBuffer(bt, size uint32) {
	var raw *byte
	var n uint32
	getBufferBytes(bt, 0, size, unsafe.Pointer(&raw), &n)
	if raw != nil {
		setBufferBytes(bt, 0, 0x7fffffff, unsafe.Pointer(raw), n)
	}
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, size uint32, eos bool) uint32 {
	if mode != "body" {
		return 0
	}
	if !eos {
		return 1
	}
	copyBuffer(0, size)
	return 0
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n uint32, eos bool) uint32 { return 0 }

//go:wasmexport proxy_on_response_body
func onResponseBody(id, size uint32, eos bool) uint32 {
	if mode == "chunk" && size > 0 {
		copyBuffer(1, size)
	}
	return 0
}

//go:wasmexport proxy_on_done
func onDone(id uint32) bool { return true }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {}
