package convert

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// JSON reading and writing helpers shared by the translators: writers that
// append to a byte slice, and jsonReader, a single-pass cursor. Raw values
// ("raw") are JSON texts as they stand in the input: a string with its
// quotes and escapes, an object with its braces.

// bstr views b as a string without copying. The string must not outlive a
// change to b; the translators only read bodies they were handed.
func bstr(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendString appends s as a quoted JSON string. Unlike encoding/json it
// does not escape <, > and &: the output is an API body, not HTML.
func appendString(dst []byte, s string) []byte {
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

// appendStringValue appends a JSON string for r: a string's raw text is
// copied as is (already escaped), anything else is converted with String.
func appendStringValue(dst []byte, r gjson.Result) []byte {
	if r.Type == gjson.String {
		return append(dst, r.Raw...)
	}
	return appendString(dst, r.String())
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendJSONAsString writes the raw JSON value v as a JSON string holding
// its compact text, as OpenAI wants tool-call arguments. A missing value is
// "{}".
func appendJSONAsString(b, raw []byte) []byte {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	b = append(b, '"')
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '"':
				inString = true
				b = append(b, '\\', '"')
				continue
			}
			b = append(b, c)
			continue
		}
		switch c {
		case '"':
			inString = false
			b = append(b, '\\', '"')
		case '\\':
			// An escape inside a string: keep it escaped, with its
			// escaped character (which may be '"' or '\\').
			b = append(b, '\\', '\\')
			if i+1 < len(raw) {
				i++
				if raw[i] == '"' || raw[i] == '\\' {
					b = append(b, '\\')
				}
				b = append(b, raw[i])
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendSep appends a comma when b holds an element after start.
func appendSep(b []byte, start int) []byte {
	if len(b) > start {
		return append(b, ',')
	}
	return b
}

// appendRawOr appends raw, or def when raw is empty.
func appendRawOr(b, raw []byte, def string) []byte {
	if len(raw) == 0 {
		return append(b, def...)
	}
	return append(b, raw...)
}

// appendAsString appends raw if it is a JSON string; other values are
// quoted as text, and a missing one becomes "".
func appendAsString(b, raw []byte) []byte {
	if rawString(raw) {
		return append(b, raw...)
	}
	return appendString(b, bstr(raw))
}

// isNumber reports whether raw is a JSON number.
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// jsonReader is a forward-only cursor over a JSON document. Converters
// walk the input once with it, descending into the values they convert and
// skipping the rest (see skipString for how strings are skipped). It trusts
// the input to be JSON: on malformed input it sets bad, loops end, and the
// caller returns an error. It never panics and never loops forever.
//
//	if r.enter('{') {
//		for r.more('}') {
//			switch string(r.key()) {
//			case "messages": …
//			default: r.skip()
//			}
//		}
//	}
type jsonReader struct {
	b   []byte
	i   int
	bad bool
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) && isSpace(r.b[r.i]) {
		r.i++
	}
}

// isSpace reports whether c is JSON whitespace; compact JSON has none, so
// the first comparison usually decides.
func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t') }

// kind returns the first byte of the next value: '"', '{', '[', 't', 'f',
// 'n', a digit or '-'; 0 at the end of input.
func (r *jsonReader) kind() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// enter consumes open ('{' or '[') if the next value starts with it. If
// not, it skips the value and returns false.
//
// enter, more, key and raw begin with a fast path for compact JSON and
// work on local copies of the cursor: in Wasm every branch and every
// access through r costs.
func (r *jsonReader) enter(open byte) bool {
	if i := r.i; i < len(r.b) && r.b[i] == open {
		r.i = i + 1
		return true
	}
	if r.kind() == open {
		r.i++
		return true
	}
	r.skip()
	return false
}

// more reports whether the object or array being read has another member,
// consuming the separating comma, or the closing byte at the end.
func (r *jsonReader) more(close byte) bool {
	b, i := r.b, r.i
	if i < len(b) && b[i] == ',' {
		i++
	}
	if i < len(b) && b[i] > ' ' && !r.bad {
		if b[i] == close {
			r.i = i + 1
			return false
		}
		r.i = i
		return true
	}
	// Whitespace, the end of the input or an earlier error.
	if r.bad {
		return false
	}
	if r.ws(); r.i < len(b) && b[r.i] == ',' {
		r.i++
		r.ws()
	}
	if r.i >= len(b) {
		r.bad = true
		return false
	}
	if b[r.i] == close {
		r.i++
		return false
	}
	return true
}

// key reads an object key and its colon, returning the key's raw text
// (without quotes, escapes untouched).
func (r *jsonReader) key() []byte {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '"' {
		if j := skipString(b, i); j > 0 && j < len(b) && b[j] == ':' {
			r.i = j + 1
			return b[i+1 : j-1]
		}
	}
	r.ws()
	i = r.i
	j := -1
	if i < len(b) && b[i] == '"' {
		j = skipString(b, i)
	}
	if j < 0 {
		r.i, r.bad = len(b), true
		return nil
	}
	k := b[i+1 : j-1]
	for j < len(b) && b[j] <= ' ' {
		j++
	}
	if j >= len(b) || b[j] != ':' {
		r.i, r.bad = len(b), true
		return nil
	}
	r.i = j + 1
	return k
}

// str reads a string value and returns its raw text with quotes. Any other
// value is skipped and nil returned.
func (r *jsonReader) str() []byte {
	if r.kind() != '"' {
		r.skip()
		return nil
	}
	return r.raw()
}

// raw reads any value and returns its raw text.
func (r *jsonReader) raw() []byte {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '"' {
		if j := skipString(b, i); j > 0 {
			r.i = j
			return b[i:j]
		}
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := -1
	if i < len(b) {
		switch b[i] {
		case '"':
			j = skipString(b, i)
		case '{', '[':
			j = skipContainer(b, i)
		case '}', ']', ',', ':':
		default: // number, true, false, null
			for j = i; j < len(b); j++ {
				if c := b[j]; c == ',' || c == '}' || c == ']' || c <= ' ' {
					break
				}
			}
		}
	}
	if j <= i {
		r.i, r.bad = len(b), true
		return nil
	}
	r.i = j
	return b[i:j]
}

func (r *jsonReader) skip() { r.raw() }

// member reads an object and returns the raw value of its first member
// called name, or nil when there is none or the value is not an object.
func (r *jsonReader) member(name string) []byte {
	var v []byte
	if r.enter('{') {
		for r.more('}') {
			if k := r.key(); v == nil && string(k) == name {
				v = r.raw()
			} else {
				r.skip()
			}
		}
	}
	return v
}

// memberOf is member for a raw object.
func memberOf(raw []byte, name string) []byte {
	if len(raw) == 0 {
		return nil
	}
	r := jsonReader{b: raw}
	return r.member(name)
}

// skipString returns the index after the string whose quote is at b[i],
// or -1. The first bytes, which hold all of a key, a type or an id, are
// scanned 8 at a time for '"' and '\\' (SWAR: a Wasm loop costs several ns a
// byte); the rest of a long string with bytes.IndexByte, which is
// vectorised natively and hand-written in Wasm.
func skipString(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	start, n := i, len(b)
	i++
	for limit := i + 32; i < limit; {
		if i+8 > n {
			for ; i < n; i++ {
				switch b[i] {
				case '"':
					return i + 1
				case '\\':
					i++
				}
			}
			return -1
		}
		x := binary.LittleEndian.Uint64(b[i:])
		q, e := x^(ones*'"'), x^(ones*'\\')
		// The lowest byte of q or e that is zero, flagged by its top bit.
		if m := ((q-ones)&^q | (e-ones)&^e) & highs; m != 0 {
			i += bits.TrailingZeros64(m) / 8
			if b[i] == '"' {
				return i + 1
			}
			i += 2 // the backslash and the byte it escapes
			continue
		}
		i += 8
	}
	for i < n {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		k := i - 1
		for k > start && b[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 { // an even number of backslashes: not escaped
			return i + 1
		}
		i++
	}
	return -1
}

// skipContainer returns the index after the object or array opening at
// b[i], or -1.
func skipContainer(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// Helpers over raw values returned by jsonReader.

// hasPrefix is bytes.HasPrefix eight bytes at a time: in Wasm the
// runtime's memequal compares byte by byte, and a stream compares a chunk
// head of ~200 bytes per event.
func hasPrefix(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	i := 0
	for ; i+8 <= len(prefix); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != binary.LittleEndian.Uint64(prefix[i:]) {
			return false
		}
	}
	for ; i < len(prefix); i++ {
		if b[i] != prefix[i] {
			return false
		}
	}
	return true
}

// rawInt reads a raw JSON number as an integer, like gjson's Int: a
// fraction or exponent goes through float64 and is truncated. Anything
// that is not a number is 0.
func rawInt(raw []byte) int64 {
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
	if n, err := strconv.ParseInt(bstr(raw), 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(bstr(raw), 64); err == nil && f >= -1<<63 && f < 1<<63 {
		return int64(f)
	}
	return 0
}

// rawString reports whether raw is a JSON string.
func rawString(raw []byte) bool { return len(raw) >= 2 && raw[0] == '"' }

// rawNonEmptyString reports whether raw is a string other than "".
func rawNonEmptyString(raw []byte) bool { return len(raw) > 2 && raw[0] == '"' }

// inner returns a raw string's text without quotes, escapes untouched.
func inner(raw []byte) []byte {
	if rawString(raw) {
		return raw[1 : len(raw)-1]
	}
	return nil
}

// unquote returns a raw string's value, unescaped. Without escapes it
// does not allocate: the result aliases raw.
func unquote(raw []byte) string {
	if !rawString(raw) {
		return ""
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return bstr(in)
	}
	return gjson.Parse(bstr(raw)).Str
}

// isTrue reports whether raw is the literal true.
func isTrue(raw []byte) bool { return string(raw) == "true" }

// appendUnescaped appends the value of the JSON string content s (without
// quotes): escapes are decoded, invalid ones are copied as they are.
func appendUnescaped(b, s []byte) []byte {
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
