// Package jsonbytes reads, validates and edits JSON held in byte slices,
// without reflection and mostly without allocating. It is the one JSON
// package of the filter and of convert: the filter runs in a proxy-wasm VM
// where encoding/json is slow and large, and gjson/sjson pull encoding/json
// in.
//
// Each part does one thing:
//   - Valid and Object validate a whole document; Object also indexes the
//     top-level members and rebuilds the object with members replaced,
//     added or removed (AppendEdited, Edit).
//   - ObjectWriter writes an object member by member through an Editor,
//     so that a converter's output carries its edits as it is written.
//   - Reader is a forward-only cursor that trusts its input to be JSON
//     (validate it first): converters walk a body once with it.
//   - Value is a raw JSON value with gjson-like accessors (Get, ForEach,
//     String, Int, Bool) for the few places that look up a field or two.
//   - SetRaw edits one member of a document in place, like sjson.
//   - AppendString escapes, AppendUnescaped and Unquote unescape.
//
// Raw values are JSON texts as they stand in the input: a string with its
// quotes and escapes, an object with its braces. Results alias the input
// unless a function says otherwise; nothing here panics on malformed input.
package jsonbytes

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// StringView returns b as a string without copying. The string must not
// outlive a change to b.
func StringView(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// AppendString appends s as a quoted JSON string. Unlike encoding/json it
// does not escape <, > and &: the output is an API body, not HTML. Invalid
// UTF-8 is copied as it is.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Unquote returns the value of the raw string raw, unescaped, or "" when
// raw is not a string. Without escapes it does not allocate: the result
// aliases raw.
func Unquote(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return StringView(in)
	}
	return string(AppendUnescaped(make([]byte, 0, len(in)), in))
}

// AppendUnescaped appends the value of the JSON string content s (without
// quotes): escapes are decoded, invalid ones are copied as they are. A
// \u escape of a lone UTF-16 surrogate becomes U+FFFD, as in encoding/json.
func AppendUnescaped(b, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 || i+1 >= len(s) {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, n := decodeU(s)
			if n == 0 {
				b = append(b, '\\', 'u')
				continue
			}
			s = s[n:]
			if utf16.IsSurrogate(r) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, n2 := decodeU(s[2:]); n2 > 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r, s = dec, s[6:]
						}
					}
				}
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/' and anything unexpected
			b = append(b, c)
		}
	}
}

// decodeU reads the 4 hex digits of a \u escape.
func decodeU(s []byte) (rune, int) {
	if len(s) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, 0
		}
		r = r<<4 | rune(c)
	}
	return r, 4
}

// ParseInt reads a raw JSON number as an integer, like gjson's Int: a
// fraction or exponent goes through float64 and is truncated. Anything
// that is not a number, or does not fit in an int64, is 0.
func ParseInt(raw []byte) int64 {
	var n int64
	i, neg := 0, false
	if len(raw) > 0 && raw[0] == '-' {
		i, neg = 1, true
	}
	if i == len(raw) || raw[i] < '0' || raw[i] > '9' {
		return 0 // missing, null, a string…: not a number
	}
	if len(raw) > 18 {
		return slowInt(raw)
	}
	for ; i < len(raw); i++ {
		c := raw[i]
		if c < '0' || c > '9' {
			return slowInt(raw)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

func slowInt(raw []byte) int64 {
	if n, err := strconv.ParseInt(StringView(raw), 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(StringView(raw), 64); err == nil && f >= -1<<63 && f < 1<<63 {
		return int64(f)
	}
	return 0
}
