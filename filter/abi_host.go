//go:build wasip1

package main

import (
	"encoding/binary"
	"unsafe"
)

// proxy-wasm enums (proxy-wasm-abi.md A.8).
const (
	statusOK            = 0
	statusNotFound      = 1
	statusUnimplemented = 12

	bufferRequestBody      = 0
	bufferResponseBody     = 1
	bufferCallResponseBody = 4
	bufferPluginConfig     = 7

	mapRequestHeaders      = 0
	mapResponseHeaders     = 2
	mapCallResponseHeaders = 6

	streamRequest = 0
)

// ptr returns the address of b's first byte (nil for an empty slice).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func strPtr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// hostBytes turns a host-allocated buffer (made by proxy_on_memory_allocate,
// so owned by the Go heap) into a slice without copying.
func hostBytes(raw *byte, n uint32) []byte {
	if raw == nil || n == 0 {
		return nil
	}
	return unsafe.Slice(raw, n)
}

func logMsg(level uint32, msg string) {
	proxyLog(level, strPtr(msg), uint32(len(msg)))
}

func getBuffer(bt uint32, size int) []byte {
	if size <= 0 {
		return nil
	}
	var raw *byte
	var n uint32
	if proxyGetBufferBytes(bt, 0, uint32(size), unsafe.Pointer(&raw), &n) != statusOK {
		return nil
	}
	return hostBytes(raw, n)
}

// replaceBuffer swaps the whole buffer: start 0 and a size that covers any
// length drain everything before the new bytes are written.
func replaceBuffer(bt uint32, b []byte) bool {
	return proxySetBufferBytes(bt, 0, 0x7fffffff, ptr(b), uint32(len(b))) == statusOK
}

// getPairs reads a whole header map with one host call: each call that
// returns data re-enters the guest allocator, so one call per map keeps
// the cost flat whatever the number of headers.
func getPairs(mt uint32) [][2]string {
	var raw *byte
	var n uint32
	if proxyGetHeaderMapPairs(mt, unsafe.Pointer(&raw), &n) != statusOK {
		return nil
	}
	return decodePairs(hostBytes(raw, n))
}

// decodePairs parses the proxy-wasm pairs encoding (A.4). The strings point
// into b, which the caller owns. Malformed input yields what could be read.
func decodePairs(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	count := int(binary.LittleEndian.Uint32(b))
	if count > (len(b)-4)/8 {
		return nil
	}
	out := make([][2]string, count)
	sizes := b[4:]
	data := 4 + 8*count
	for i := 0; i < count; i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || data+kl+1+vl+1 > len(b) {
			return out[:i]
		}
		out[i][0] = unsafe.String(unsafe.SliceData(b[data:]), kl)
		data += kl + 1
		out[i][1] = unsafe.String(unsafe.SliceData(b[data:]), vl)
		data += vl + 1
	}
	return out
}

// encodePairs serialises headers; an empty map is the explicit 4-byte
// count 0, which every host accepts.
func encodePairs(h [][2]string) []byte {
	size := 4
	for _, kv := range h {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	b := make([]byte, 4+8*len(h), size)
	binary.LittleEndian.PutUint32(b, uint32(len(h)))
	for i, kv := range h {
		binary.LittleEndian.PutUint32(b[4+8*i:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(b[8+8*i:], uint32(len(kv[1])))
	}
	for _, kv := range h {
		b = append(b, kv[0]...)
		b = append(b, 0)
		b = append(b, kv[1]...)
		b = append(b, 0)
	}
	return b
}

func replaceHeader(mt uint32, k, v string) bool {
	return proxyReplaceHeaderMapValue(mt, strPtr(k), uint32(len(k)), strPtr(v), uint32(len(v))) == statusOK
}

func removeHeader(mt uint32, k string) {
	proxyRemoveHeaderMapValue(mt, strPtr(k), uint32(len(k)))
}
