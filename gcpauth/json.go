package gcpauth

// The few JSON documents this package reads and writes (the key file, the
// token response, the JWT header and claims) are flat objects of strings
// and numbers. This small reader and writer cover them, so that gcpauth
// needs neither encoding/json (half a megabyte of reflection in the
// filter's module) nor another package of this module.

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of values the reader skips.
const maxDepth = 64

// jsonSyntaxError says where a document stops being JSON; it never quotes
// the document, which may hold key material.
type jsonSyntaxError struct{ offset int }

func (e *jsonSyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.offset)
}

// readObject calls fn with the unescaped key and the raw value of every
// member of the JSON object data, in order. It returns errNotObject when
// data is JSON but not an object (null counts as an empty object, as for
// encoding/json), or a *jsonSyntaxError.
func readObject(data []byte, fn func(key string, raw []byte)) error {
	d := decoder{b: data}
	i := d.ws(0)
	if i < len(data) && data[i] == '{' {
		end, err := d.object(i, 0, fn)
		if err != nil {
			return err
		}
		return d.trailing(end)
	}
	end, err := d.value(i, 0)
	if err != nil {
		return err
	}
	if err := d.trailing(end); err != nil {
		return err
	}
	if string(data[i:end]) == "null" {
		return nil
	}
	return errNotObject
}

type notObjectError struct{}

func (notObjectError) Error() string { return "not a JSON object" }

var errNotObject error = notObjectError{}

// jsonString returns the value of the raw JSON string raw; ok is false
// when raw is not a string. null reads as "", as for encoding/json.
func jsonString(raw []byte) (s string, ok bool) {
	if string(raw) == "null" {
		return "", true
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	return unescape(raw[1 : len(raw)-1]), true
}

type decoder struct{ b []byte }

func (d *decoder) ws(i int) int {
	for i < len(d.b) && (d.b[i] == ' ' || d.b[i] == '\t' || d.b[i] == '\n' || d.b[i] == '\r') {
		i++
	}
	return i
}

func (d *decoder) trailing(i int) error {
	if i = d.ws(i); i != len(d.b) {
		return &jsonSyntaxError{i}
	}
	return nil
}

func (d *decoder) object(i, depth int, fn func(string, []byte)) (int, error) {
	i = d.ws(i + 1)
	if i < len(d.b) && d.b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d.b) || d.b[i] != '"' {
			return i, &jsonSyntaxError{i}
		}
		kend, err := d.str(i)
		if err != nil {
			return kend, err
		}
		key := d.b[i:kend]
		if i = d.ws(kend); i >= len(d.b) || d.b[i] != ':' {
			return i, &jsonSyntaxError{i}
		}
		v := d.ws(i + 1)
		vend, err := d.value(v, depth+1)
		if err != nil {
			return vend, err
		}
		if fn != nil {
			fn(unescape(key[1:len(key)-1]), d.b[v:vend])
		}
		if i = d.ws(vend); i < len(d.b) && d.b[i] == '}' {
			return i + 1, nil
		}
		if i >= len(d.b) || d.b[i] != ',' {
			return i, &jsonSyntaxError{i}
		}
		i = d.ws(i + 1)
	}
}

func (d *decoder) value(i, depth int) (int, error) {
	if i >= len(d.b) || depth > maxDepth {
		return i, &jsonSyntaxError{i}
	}
	switch c := d.b[i]; {
	case c == '"':
		return d.str(i)
	case c == '{':
		return d.object(i, depth, nil)
	case c == '[':
		i = d.ws(i + 1)
		if i < len(d.b) && d.b[i] == ']' {
			return i + 1, nil
		}
		for {
			end, err := d.value(i, depth+1)
			if err != nil {
				return end, err
			}
			if i = d.ws(end); i < len(d.b) && d.b[i] == ']' {
				return i + 1, nil
			}
			if i >= len(d.b) || d.b[i] != ',' {
				return i, &jsonSyntaxError{i}
			}
			i = d.ws(i + 1)
		}
	case c == 't', c == 'f', c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(d.b)-i >= len(lit) && string(d.b[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return i, &jsonSyntaxError{i}
	}
	if end := numberEnd(d.b, i); end > i {
		return end, nil
	}
	return i, &jsonSyntaxError{i}
}

// numberEnd returns the end of the JSON number at b[i], or i if there is
// none.
func numberEnd(b []byte, i int) int {
	start := i
	digits := func() int {
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return start
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return start
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return start
		}
	}
	return i
}

// isNumber reports whether s is exactly one JSON number.
func isNumber(s []byte) bool { return len(s) > 0 && numberEnd(s, 0) == len(s) }

// str returns the end of the string starting at the quote at b[i].
func (d *decoder) str(i int) (int, error) {
	b := d.b
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, nil
		case c < 0x20:
			return j, &jsonSyntaxError{j}
		case c == '\\':
			if j+1 >= len(b) {
				return j, &jsonSyntaxError{j}
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if _, ok := hex4(b[j+2:]); !ok {
					return j, &jsonSyntaxError{j}
				}
				j += 5
			default:
				return j, &jsonSyntaxError{j}
			}
		}
	}
	return len(b), &jsonSyntaxError{len(b)}
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
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
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape decodes the content of a string the decoder accepted. Invalid
// UTF-8 and a \u escape of a lone surrogate become U+FFFD, as in
// encoding/json.
func unescape(s []byte) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			// Invalid UTF-8 reads as U+FFFD, as in encoding/json.
			r, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r)
			i += size - 1
			continue
		}
		if c != '\\' || i+1 >= len(s) {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(s[i+1:])
			i += 4
			if utf16.IsSurrogate(r) && i+7 <= len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, ok := hex4(s[i+3:]); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// appendString appends s as a JSON string escaped exactly as
// encoding/json.Marshal does (HTML characters, U+2028 and U+2029 as \u
// escapes, invalid UTF-8 as U+FFFD), so that assertions stay byte-identical
// to those of golang.org/x/oauth2/jws.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
