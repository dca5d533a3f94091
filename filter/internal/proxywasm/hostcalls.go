//go:build wasip1

package proxywasm

import (
	"encoding/binary"
	"unsafe"
)

// proxy-wasm enums (docs/proxy-wasm-abi.md#enums).
const (
	statusOK            = 0
	statusCASMismatch   = 8
	statusUnimplemented = 12

	bufferRequestBody      = 0
	bufferResponseBody     = 1
	bufferCallResponseBody = 4
	bufferPluginConfig     = 7

	mapRequestHeaders      = 0
	mapResponseHeaders     = 2
	mapCallResponseHeaders = 6

	streamRequest  = 0
	streamResponse = 1
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

// nowNanos is the wall clock in one WASI call; time.Now makes two (wall
// and monotonic), and the filter needs only the wall clock.
func nowNanos() int64 {
	if clockTimeGet(0, 1000, &clockNow) != 0 {
		return 0
	}
	return int64(clockNow)
}

var clockNow uint64 // a global: a local passed to an import escapes

func logMsg(level uint32, msg string) {
	proxyLog(level, strPtr(msg), uint32(len(msg)))
}

// ret and retLen receive the address and length of what a host call
// returns. They are globals so that no call allocates its result slots
// (a pointer passed to an import escapes); the VM is single-threaded.
// Each call zeroes them first: the host writes 4 bytes into ret, and may
// write nothing when there is nothing to return.
var (
	ret    *byte
	retLen uint32
)

// allocInto, when set, is where proxy_on_memory_allocate puts the next
// allocation: a buffer the caller reuses from call to call instead of a
// fresh one per host call. It is armed right before one host call and
// disarmed after it, whether or not the host allocated.
var allocInto *[]byte

// maxReused bounds the buffers kept for reuse; a larger answer gets a
// buffer of its own, so one huge body does not stay pinned in the VM.
const maxReused = 1 << 20

func arm(dst *[]byte) {
	if dst != nil {
		allocInto = dst
	}
}

// getBuffer reads size bytes of a buffer. With dst, the bytes land in
// *dst (reused across calls) and stay valid until the next call with the
// same dst; without, they are the caller's alone.
func getBuffer(bt uint32, size int, dst *[]byte) []byte {
	if size <= 0 {
		return nil
	}
	arm(dst)
	ret, retLen = nil, 0 // a host that returns nothing may leave them be
	st := proxyGetBufferBytes(bt, 0, uint32(size), unsafe.Pointer(&ret), &retLen)
	allocInto = nil
	if st != statusOK {
		return nil
	}
	return hostBytes(ret, retLen)
}

// getProperty reads a property, its path segments separated by NUL; ""
// when the host has none.
func getProperty(path string) string {
	ret, retLen = nil, 0
	if proxyGetProperty(strPtr(path), uint32(len(path)), unsafe.Pointer(&ret), &retLen) != statusOK {
		return ""
	}
	return string(hostBytes(ret, retLen))
}

// replaceBuffer swaps the whole buffer: start 0 and a size that covers any
// length drain everything before the new bytes are written.
func replaceBuffer(bt uint32, b []byte) bool {
	return proxySetBufferBytes(bt, 0, 0x7fffffff, ptr(b), uint32(len(b))) == statusOK
}

// getPairs reads a whole header map with one host call: each call that
// returns data re-enters the guest allocator, so one call per map keeps
// the cost flat whatever the number of headers. dst and pairs work as in
// getBuffer: the strings point into *dst, the result reuses *pairs.
func getPairs(mt uint32, dst *[]byte, pairs *[][2]string) [][2]string {
	arm(dst)
	ret, retLen = nil, 0
	st := proxyGetHeaderMapPairs(mt, unsafe.Pointer(&ret), &retLen)
	allocInto = nil
	if st != statusOK {
		return nil
	}
	var out [][2]string
	if pairs != nil {
		out = (*pairs)[:0]
	}
	out = decodePairs(hostBytes(ret, retLen), out)
	if pairs != nil {
		*pairs = out
	}
	return out
}

// decodePairs parses the proxy-wasm pairs encoding (A.4), appending to
// out. The strings point into b, which the caller owns. Malformed input
// yields what could be read.
func decodePairs(b []byte, out [][2]string) [][2]string {
	if len(b) < 4 {
		return out
	}
	count := int(binary.LittleEndian.Uint32(b))
	if count > (len(b)-4)/8 {
		return out
	}
	sizes := b[4:]
	data := 4 + 8*count
	for i := 0; i < count; i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || data+kl+1+vl+1 > len(b) {
			return out
		}
		k := unsafe.String(unsafe.SliceData(b[data:]), kl)
		data += kl + 1
		out = append(out, [2]string{k, unsafe.String(unsafe.SliceData(b[data:]), vl)})
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
