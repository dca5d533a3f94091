package jsonbytes

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// Value is one raw JSON value, as Parse, Get and ForEach return it; empty
// when missing. Its accessors follow gjson's Result (a string's String is
// its unescaped text, a number's String its text, Int of "1.5" is 1…) so
// that code reads the same, but a Value is the bytes themselves: nothing is
// decoded until asked for, and results alias the document. Like Reader, a
// Value trusts its document to be JSON: validate first; on malformed input
// the accessors return zero values, never panic.
type Value []byte

// Parse returns the first JSON value in b, without the whitespace around
// it.
func Parse(b []byte) Value {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if j := SkipValue(b, i); j > i {
		return Value(b[i:j])
	}
	return Value(bytes.TrimRight(b[i:], " \t\r\n"))
}

// Exists reports whether the value is present (it may be null).
func (v Value) Exists() bool { return len(v) > 0 }

// IsObject reports whether the value is an object.
func (v Value) IsObject() bool { return len(v) > 0 && v[0] == '{' }

// IsArray reports whether the value is an array.
func (v Value) IsArray() bool { return len(v) > 0 && v[0] == '[' }

// IsString reports whether the value is a string.
func (v Value) IsString() bool { return len(v) >= 2 && v[0] == '"' }

// IsNumber reports whether the value is a number.
func (v Value) IsNumber() bool { return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') }

// IsNull reports whether the value is the literal null.
func (v Value) IsNull() bool { return string(v) == "null" }

// IsBool reports whether the value is true or false.
func (v Value) IsBool() bool { return string(v) == "true" || string(v) == "false" }

// Get returns the value at path: keys separated by '.', where a key of
// digits indexes an array ("choices.0.delta"). A key matches a member
// whose unescaped name equals it; with duplicate names the first wins.
// There are no wildcards or escapes: for a name holding a '.', use Member.
func (v Value) Get(path string) Value {
	for {
		key, rest, more := strings.Cut(path, ".")
		if v = v.child(key); v == nil || !more {
			return v
		}
		path = rest
	}
}

// Member returns the value of the object's first member named key.
func (v Value) Member(key string) Value {
	if !v.IsObject() {
		return nil
	}
	return v.child(key)
}

func (v Value) child(key string) Value {
	r := NewReader(v)
	switch {
	case v.IsObject():
		r.i = 1
		for r.More('}') {
			k := r.Key()
			val := r.Raw()
			if keyEquals(k, key) {
				return Value(val)
			}
		}
	case v.IsArray():
		n, err := strconv.Atoi(key)
		if err != nil || n < 0 || key[0] == '+' {
			return nil
		}
		r.i = 1
		for ; r.More(']'); n-- {
			val := r.Raw()
			if n == 0 {
				return Value(val)
			}
		}
	}
	return nil
}

// keyEquals reports whether the raw key k (between its quotes) names key.
func keyEquals(k []byte, key string) bool {
	if string(k) == key {
		return true
	}
	if bytes.IndexByte(k, '\\') < 0 {
		return false
	}
	var buf [64]byte
	return string(AppendUnescaped(buf[:0], k)) == key
}

// ForEach calls fn for each member of an object (key is the member's raw
// name, a string Value) or each element of an array (key is empty) until
// fn returns false. A value that is neither is passed once, with an empty
// key, as gjson does.
func (v Value) ForEach(fn func(key, value Value) bool) {
	if !v.IsObject() && !v.IsArray() {
		if v.Exists() {
			fn(nil, v)
		}
		return
	}
	r := NewReader(v)
	r.i = 1
	close := byte('}')
	if v[0] == '[' {
		close = ']'
	}
	for r.More(close) {
		var key Value
		if close == '}' {
			k := r.Key()
			if r.bad {
				return
			}
			// k lies between the key's quotes: widen it to take them in.
			at := cap(v) - cap(k)
			key = v[at-1 : at+len(k)+1]
		}
		val := r.Raw()
		if r.bad || !fn(key, Value(val)) {
			return
		}
	}
}

// Str returns a string's unescaped text, or "" for any other value, like
// gjson's Result.Str. Without escapes it aliases the document.
func (v Value) Str() string {
	if !v.IsString() {
		return ""
	}
	return Unquote(v)
}

// String returns the value as text, like gjson's Result.String: a
// string's unescaped text, an integer's digits, any other number
// formatted by strconv ('f', shortest), "true" or "false", the raw text of
// an object or array, and "" for null or a missing value.
func (v Value) String() string {
	switch {
	case v.IsString():
		return Unquote(v)
	case v.IsNumber():
		for _, c := range v[1:] {
			if c < '0' || c > '9' {
				return strconv.FormatFloat(v.Float(), 'f', -1, 64)
			}
		}
		return StringView(v)
	case v.IsNull():
		return ""
	}
	return StringView(v)
}

// Int returns the value as an integer, like gjson's Result.Int: a number
// truncated (see ParseInt) or, out of range, saturated; a string holding
// only an integer parsed; 1 for true; else 0.
func (v Value) Int() int64 {
	switch {
	case v.IsNumber():
		n := ParseInt(v)
		if n == 0 { // maybe out of range: gjson saturates, as Go does in Wasm
			if f := v.Float(); f >= 1<<63 {
				return math.MaxInt64
			} else if f < -1<<63 {
				return math.MinInt64
			}
		}
		return n
	case v.IsString():
		s := v.Str()
		for i := 0; i < len(s); i++ {
			if c := s[i]; !(c >= '0' && c <= '9' || i == 0 && c == '-') {
				return 0
			}
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	case string(v) == "true":
		return 1
	}
	return 0
}

// Float returns the value as a float64, like gjson's Result.Float: a
// number or a string holding one parsed, 1 for true, else 0.
func (v Value) Float() float64 {
	var s string
	switch {
	case v.IsNumber():
		s = StringView(v)
	case v.IsString():
		s = v.Str()
	case string(v) == "true":
		return 1
	default:
		return 0
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// Bool returns the value as a boolean, like gjson's Result.Bool: true, a
// non-zero number, or a string strconv.ParseBool accepts as true ("true",
// "1", "t", any case).
func (v Value) Bool() bool {
	switch {
	case string(v) == "true":
		return true
	case v.IsNumber():
		return v.Float() != 0
	case v.IsString():
		b, _ := strconv.ParseBool(strings.ToLower(v.Str()))
		return b
	}
	return false
}
