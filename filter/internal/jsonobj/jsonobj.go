// Package jsonobj validates a JSON document and indexes the members of its
// top-level object in one pass, then rebuilds it with members replaced,
// added or removed by splicing bytes.
//
// It exists for the filter's hot path: a request body is scanned exactly
// once, however many top-level fields the gateway reads or rewrites, and
// string contents (nearly all of an LLM request) are skipped eight bytes at
// a time. Nested values are validated but not indexed; use gjson on a
// member's raw bytes to look inside.
package jsonobj

import (
	"strconv"
	"unsafe"
)

// MaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const MaxDepth = 512

// Member is one top-level member. Key is the key's raw bytes (without
// quotes, escapes left as they are); Value the raw value.
type Member struct {
	Key   string
	Value []byte
	start int // offset of the key's opening quote
}

// Object is an indexed top-level object. The zero value is ready for Parse,
// and reusing one avoids allocation.
type Object struct {
	src     []byte
	Members []Member
}

// SyntaxError reports where a document stops being JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return e.Msg + " at byte offset " + strconv.Itoa(e.Offset)
}

// ErrNotObject is returned for valid JSON whose top level is not an object.
var ErrNotObject = &SyntaxError{Msg: "top-level value is not an object"}

// Parse validates src and, when it is an object, indexes its members. Member
// slices alias src.
func (o *Object) Parse(src []byte) error {
	o.src = src
	o.Members = o.Members[:0]
	p := parser{b: src}
	i := p.ws(0)
	if i >= len(src) {
		return p.err(i, "unexpected end of input")
	}
	if src[i] != '{' {
		end, err := p.value(i, 0)
		if err != nil {
			return err
		}
		if j := p.ws(end); j != len(src) {
			return p.err(j, "invalid character after top-level value")
		}
		return ErrNotObject
	}
	i = p.ws(i + 1)
	if i < len(src) && src[i] == '}' {
		return p.trailing(i + 1)
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return p.err(i, "expected a string key")
		}
		kend, err := p.str(i)
		if err != nil {
			return err
		}
		j := p.ws(kend)
		if j >= len(src) || src[j] != ':' {
			return p.err(j, "expected ':' after object key")
		}
		v := p.ws(j + 1)
		vend, err := p.value(v, 1)
		if err != nil {
			return err
		}
		o.Members = append(o.Members, Member{Key: bstr(src[i+1 : kend-1]), Value: src[v:vend], start: i})
		i = p.ws(vend)
		if i >= len(src) {
			return p.err(i, "unexpected end of input in object")
		}
		if src[i] == '}' {
			return p.trailing(i + 1)
		}
		if src[i] != ',' {
			return p.err(i, "expected ',' or '}' in object")
		}
		i = p.ws(i + 1)
	}
}

// Get returns the raw value of the first member named key.
func (o *Object) Get(key string) ([]byte, bool) {
	for i := range o.Members {
		if o.Members[i].Key == key {
			return o.Members[i].Value, true
		}
	}
	return nil, false
}

// Has reports whether a member named key exists.
func (o *Object) Has(key string) bool {
	_, ok := o.Get(key)
	return ok
}

// String returns the member's value when it is a string without escapes,
// the common case for model names; ok is false otherwise.
func (o *Object) String(key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok || len(v) < 2 || v[0] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' {
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// Set is one replacement or addition: Raw must be valid JSON.
type Set struct {
	Key string
	Raw []byte
}

// AppendEdited appends to dst the object with every member named in sets
// replaced in place (or added at the end), and every member named in del
// left out. Untouched members are copied verbatim.
func (o *Object) AppendEdited(dst []byte, sets []Set, del []string) []byte {
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	done := uint64(0) // bit i: sets[i] written (at most 64 sets)
	for _, m := range o.Members {
		if contains(del, m.Key) {
			continue
		}
		if k := indexSet(sets, m.Key); k >= 0 {
			if k < 64 && done&(1<<k) != 0 {
				continue // a duplicate key: keep only the first, replaced
			}
			sep()
			dst = appendKey(dst, m.Key)
			dst = append(dst, sets[k].Raw...)
			if k < 64 {
				done |= 1 << k
			}
			continue
		}
		sep()
		end := len(m.Value) + int(uintptr(unsafe.Pointer(unsafe.SliceData(m.Value)))-uintptr(unsafe.Pointer(unsafe.SliceData(o.src))))
		dst = append(dst, o.src[m.start:end]...)
	}
	for k, s := range sets {
		if k < 64 && done&(1<<k) != 0 {
			continue
		}
		sep()
		dst = appendKey(dst, s.Key)
		dst = append(dst, s.Raw...)
	}
	return append(dst, '}')
}

func appendKey(dst []byte, key string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func indexSet(sets []Set, key string) int {
	for i := range sets {
		if sets[i].Key == key {
			return i
		}
	}
	return -1
}

func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

type parser struct{ b []byte }

func (p *parser) err(off int, msg string) error {
	if off > len(p.b) {
		off = len(p.b)
	}
	return &SyntaxError{Offset: off, Msg: msg}
}

func (p *parser) trailing(i int) error {
	if j := p.ws(i); j != len(p.b) {
		return p.err(j, "invalid character after top-level value")
	}
	return nil
}

func (p *parser) ws(i int) int {
	for i < len(p.b) {
		switch p.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value validates the value at i and returns the offset just after it.
func (p *parser) value(i, depth int) (int, error) {
	b := p.b
	if i >= len(b) {
		return i, p.err(i, "unexpected end of input, expected a value")
	}
	switch c := b[i]; {
	case c == '"':
		return p.str(i)
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return i, p.err(i, "nesting deeper than "+strconv.Itoa(MaxDepth))
		}
		if c == '{' {
			return p.object(i, depth+1)
		}
		return p.array(i, depth+1)
	case c == 't':
		return p.literal(i, "true")
	case c == 'f':
		return p.literal(i, "false")
	case c == 'n':
		return p.literal(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(i)
	}
	return i, p.err(i, "invalid character "+strconv.QuoteRune(rune(b[i]))+" looking for a value")
}

func (p *parser) object(i, depth int) (int, error) {
	b := p.b
	i = p.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, p.err(i, "expected a string key")
		}
		var err error
		if i, err = p.str(i); err != nil {
			return i, err
		}
		i = p.ws(i)
		if i >= len(b) || b[i] != ':' {
			return i, p.err(i, "expected ':' after object key")
		}
		if i, err = p.value(p.ws(i+1), depth); err != nil {
			return i, err
		}
		i = p.ws(i)
		if i >= len(b) {
			return i, p.err(i, "unexpected end of input in object")
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, p.err(i, "expected ',' or '}' in object")
		}
		i = p.ws(i + 1)
	}
}

func (p *parser) array(i, depth int) (int, error) {
	b := p.b
	i = p.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = p.value(i, depth); err != nil {
			return i, err
		}
		i = p.ws(i)
		if i >= len(b) {
			return i, p.err(i, "unexpected end of input in array")
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, p.err(i, "expected ',' or ']' in array")
		}
		i = p.ws(i + 1)
	}
}

func (p *parser) literal(i int, lit string) (int, error) {
	if len(p.b)-i < len(lit) || string(p.b[i:i+len(lit)]) != lit {
		return i, p.err(i, "invalid literal, expected "+lit)
	}
	return i + len(lit), nil
}

func (p *parser) number(i int) (int, error) {
	b := p.b
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, p.err(i, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, p.err(i, "invalid number: digits expected after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, p.err(i, "invalid number: digits expected in exponent")
		}
	}
	_ = start
	return i, nil
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// special reports (in the high bit of each byte) which bytes of x are '"',
// '\\' or control characters: the only bytes a string scan must stop at.
func special(x uint64) uint64 {
	q := x ^ (lo8 * '"')
	s := x ^ (lo8 * '\\')
	return ((q-lo8)&^q | (s-lo8)&^s | (x-lo8*0x20)&^x) & hi8
}

// str validates the string starting at the quote at i and returns the
// offset after its closing quote. Runs of ordinary bytes are skipped eight
// at a time (SWAR), which matters in Wasm where there is no SIMD.
func (p *parser) str(i int) (int, error) {
	b := p.b
	i++
	for {
		// Four words per turn cut the loop's branches: long prompt text
		// is most of a large body.
		for i+32 <= len(b) {
			w := (*[4]uint64)(unsafe.Pointer(&b[i]))
			if special(w[0])|special(w[1])|special(w[2])|special(w[3]) != 0 {
				break
			}
			i += 32
		}
		for i+8 <= len(b) && special(*(*uint64)(unsafe.Pointer(&b[i]))) == 0 {
			i += 8
		}
		if i >= len(b) {
			return i, p.err(i, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, p.err(i, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex4(b[i+2:i+6]) {
					return i, p.err(i, "invalid \\u escape in string")
				}
				i += 6
			default:
				return i, p.err(i, "invalid escape in string")
			}
		case c < 0x20:
			return i, p.err(i, "control character in string")
		default:
			i++
		}
	}
}

func hex4(h []byte) bool {
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
