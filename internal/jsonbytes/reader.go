package jsonbytes

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Reader is a forward-only cursor over a JSON document. Converters walk
// the input once with it, descending into the values they convert and
// skipping the rest (see SkipString for how strings are skipped). It trusts
// the input to be JSON: on malformed input Bad turns true, loops end, and
// the caller returns an error. It never panics and never loops forever.
//
//	r := jsonbytes.NewReader(body)
//	if r.Enter('{') {
//		for r.More('}') {
//			switch string(r.Key()) {
//			case "messages": …
//			default: r.Skip()
//			}
//		}
//	}
//	if r.Bad() { … }
type Reader struct {
	b   []byte
	i   int
	bad bool
}

// NewReader returns a Reader at the start of b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// Bad reports whether the reader met malformed input.
func (r *Reader) Bad() bool { return r.bad }

// Offset is the cursor's position in the input.
func (r *Reader) Offset() int { return r.i }

func (r *Reader) ws() {
	for r.i < len(r.b) && isSpace(r.b[r.i]) {
		r.i++
	}
}

// isSpace reports whether c is JSON whitespace; compact JSON has none, so
// the first comparison usually decides.
func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t') }

// Kind returns the first byte of the next value: '"', '{', '[', 't', 'f',
// 'n', a digit or '-'; 0 at the end of input.
func (r *Reader) Kind() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// Enter consumes open ('{' or '[') if the next value starts with it. If
// not, it skips the value and returns false.
//
// Enter, More, Key and Raw begin with a fast path for compact JSON and
// work on local copies of the cursor: in Wasm every branch and every
// access through r costs.
func (r *Reader) Enter(open byte) bool {
	if i := r.i; i < len(r.b) && r.b[i] == open {
		r.i = i + 1
		return true
	}
	if r.Kind() == open {
		r.i++
		return true
	}
	r.Skip()
	return false
}

// More reports whether the object or array being read has another member,
// consuming the separating comma, or the closing byte at the end.
func (r *Reader) More(close byte) bool {
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

// Key reads an object key and its colon, returning the key's raw text
// (without quotes, escapes untouched).
func (r *Reader) Key() []byte {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '"' {
		if j := SkipString(b, i); j > 0 && j < len(b) && b[j] == ':' {
			r.i = j + 1
			return b[i+1 : j-1]
		}
	}
	r.ws()
	i = r.i
	j := -1
	if i < len(b) && b[i] == '"' {
		j = SkipString(b, i)
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

// Str reads a string value and returns its raw text with quotes. Any other
// value is skipped and nil returned.
func (r *Reader) Str() []byte {
	if r.Kind() != '"' {
		r.Skip()
		return nil
	}
	return r.Raw()
}

// Raw reads any value and returns its raw text.
func (r *Reader) Raw() []byte {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '"' {
		if j := SkipString(b, i); j > 0 {
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
			j = SkipString(b, i)
		case '{', '[':
			j = SkipContainer(b, i)
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

// Skip reads a value and drops it.
func (r *Reader) Skip() { r.Raw() }

// Member reads an object and returns the raw value of its first member
// called name (compared with the key's raw text), or nil when there is
// none or the value is not an object.
func (r *Reader) Member(name string) []byte {
	var v []byte
	if r.Enter('{') {
		for r.More('}') {
			if k := r.Key(); v == nil && string(k) == name {
				v = r.Raw()
			} else {
				r.Skip()
			}
		}
	}
	return v
}

// SkipValue returns the index after the value starting at b[i] (no
// whitespace before it), or -1. Numbers and literals end at the next
// delimiter; they are not checked.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		return SkipContainer(b, i)
	case '}', ']', ',', ':':
		return -1
	}
	j := i
	for ; j < len(b); j++ {
		if c := b[j]; c == ',' || c == '}' || c == ']' || c <= ' ' {
			break
		}
	}
	if j == i {
		return -1
	}
	return j
}

// SkipString returns the index after the string whose quote is at b[i],
// or -1. The first bytes, which hold all of a key, a type or an id, are
// scanned 8 at a time for '"' and '\\' (SWAR: a Wasm loop costs several ns a
// byte); the rest of a long string with bytes.IndexByte, which is
// vectorised natively and hand-written in Wasm. Unlike Object.Parse it
// does not check what lies between the quotes.
func SkipString(b []byte, i int) int {
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

// SkipContainer returns the index after the object or array opening at
// b[i], or -1. Brackets are counted, not matched: validate first.
func SkipContainer(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = SkipString(b, i); i < 0 {
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

// Seek moves the cursor to offset, a position Offset returned before, to
// read again from there.
func (r *Reader) Seek(offset int) { r.i = min(max(offset, 0), len(r.b)) }
