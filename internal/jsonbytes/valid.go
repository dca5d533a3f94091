package jsonbytes

import (
	"strconv"
	"unsafe"
)

// MaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const MaxDepth = 512

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

// Valid reports whether b is one JSON value, optionally surrounded by
// whitespace, nested at most MaxDepth deep.
func Valid(b []byte) bool {
	p := parser{b: b}
	end, err := p.value(p.ws(0), 0)
	return err == nil && p.ws(end) == len(b)
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
