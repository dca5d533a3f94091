package main

import "unsafe"

// Host functions every host provides. Out-pointers to pointers are
// unsafe.Pointer to a zero-initialised *byte (docs/proxy-wasm-abi.md#memory).

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg *byte, size int32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t uint32, start, max int32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(t uint32, start, size int32, data *byte, dataSize int32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(t uint32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(t uint32, data *byte, size int32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(t uint32, key *byte, keySize int32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(t uint32, key *byte, keySize int32, val *byte, valSize int32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(t uint32, key *byte, keySize int32, val *byte, valSize int32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(t uint32, key *byte, keySize int32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(t uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details *byte, detailsSize int32, body *byte, bodySize int32, hdrs *byte, hdrsSize int32, grpc int32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up *byte, upSize int32, hdrs *byte, hdrsSize int32, body *byte, bodySize int32, trl *byte, trlSize int32, timeout uint32, id *uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(code *uint32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path *byte, pathSize int32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(path *byte, pathSize int32, val *byte, valSize int32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key *byte, keySize int32, ret unsafe.Pointer, retSize *int32, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key *byte, keySize int32, val *byte, valSize int32, cas uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(t uint32, name *byte, nameSize int32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, v uint64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTime(ret *uint64) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name *byte, nameSize int32, token *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vmID *byte, vmIDSize int32, name *byte, nameSize int32, token *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(token uint32, val *byte, valSize int32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(token uint32, ret unsafe.Pointer, retSize *int32) uint32

//go:wasmimport env proxy_done
func proxyDone() uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name *byte, nameSize int32, args *byte, argsSize int32, ret unsafe.Pointer, retSize *int32) uint32

func ptr(s string) *byte { return unsafe.StringData(s) }

func bptr(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

func bytesOf(p *byte, n int32) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice(p, n)
}
