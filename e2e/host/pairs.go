package host

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// Limits of HOST PairsUtil::toPairs (include/proxy-wasm/limits.h): larger
// inputs parse as an empty map (docs/proxy-wasm-abi.md#pairs).
const (
	maxPairsBytes = 1 << 20
	maxPairsCount = 1024
)

// appendPairs serializes h as proxy-wasm pairs (docs/proxy-wasm-abi.md#pairs):
// u32 N, N×(u32 klen, u32 vlen), N×(key NUL value NUL), little-endian.
func appendPairs(dst []byte, h [][2]string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h)))
	for _, kv := range h {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(kv[0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(kv[1])))
	}
	for _, kv := range h {
		dst = append(dst, kv[0]...)
		dst = append(dst, 0)
		dst = append(dst, kv[1]...)
		dst = append(dst, 0)
	}
	return dst
}

// parsePairs decodes serialized pairs. Malformed or oversized input yields
// an empty map, as in HOST toPairs.
func parsePairs(b []byte) [][2]string {
	if len(b) < 4 || len(b) > maxPairsBytes {
		return nil
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxPairsCount || uint64(4+8*n) > uint64(len(b)) {
		return nil
	}
	out := make([][2]string, n)
	p := 4 + 8*int(n)
	for i := range out {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl < 0 || vl < 0 || p+kl+1+vl+1 > len(b) {
			return nil
		}
		out[i][0] = string(b[p : p+kl])
		p += kl + 1
		out[i][1] = string(b[p : p+vl])
		p += vl + 1
	}
	return out
}

// headerMap is an ordered header map with Envoy's semantics: keys are
// lower-cased on every write and lookup (Http::LowerCaseString).
type headerMap [][2]string

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// get returns the first value for key (Envoy returns only the first of a
// repeated header, docs/proxy-wasm-abi.md#host-functions).
func (h headerMap) get(key string) (string, bool) {
	key = lower(key)
	for _, kv := range h {
		if kv[0] == key {
			return kv[1], true
		}
	}
	return "", false
}

func (h *headerMap) add(key, value string) { *h = append(*h, [2]string{lower(key), value}) }

func (h *headerMap) addAll(kvs [][2]string) {
	for _, kv := range kvs {
		h.add(kv[0], kv[1])
	}
}

// set is Envoy's setCopy: the first entry takes the value, later entries
// with the key are removed; absent keys are appended.
func (h *headerMap) set(key, value string) {
	key = lower(key)
	out, found := (*h)[:0], false
	for _, kv := range *h {
		if kv[0] == key {
			if found {
				continue
			}
			found = true
			kv[1] = value
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, [2]string{key, value})
	}
	*h = out
}

func (h *headerMap) remove(key string) {
	key = lower(key)
	out := (*h)[:0]
	for _, kv := range *h {
		if kv[0] != key {
			out = append(out, kv)
		}
	}
	*h = out
}

// byteSize is Envoy HeaderMap::byteSize: the sum of key and value lengths.
func (h headerMap) byteSize() uint32 {
	n := 0
	for _, kv := range h {
		n += len(kv[0]) + len(kv[1])
	}
	return uint32(n)
}

// regular returns the entries whose keys are not pseudo-headers.
func (h headerMap) regular() [][2]string {
	out := make([][2]string, 0, len(h))
	for _, kv := range h {
		if !strings.HasPrefix(kv[0], ":") {
			out = append(out, kv)
		}
	}
	return out
}

// contentLength parses the content-length header: present is false if it
// is absent, valid false if it is not a non-negative integer.
func (h headerMap) contentLength() (n int64, present bool, valid bool) {
	v, ok := h.get("content-length")
	if !ok {
		return 0, false, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, true, err == nil && n >= 0
}

// Get returns the first value of key (case-insensitive) in h.
func Get(h [][2]string, key string) (string, bool) { return headerMap(h).get(key) }
