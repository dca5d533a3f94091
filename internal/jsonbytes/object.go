package jsonbytes

import "unsafe"

// Member is one top-level member. Key is the key's raw bytes (without
// quotes, escapes left as they are); Value the raw value.
type Member struct {
	Key   string
	Value []byte
	start int // offset of the key's opening quote
}

// Object is an indexed top-level object: Parse validates a document and
// indexes the members of its top-level object in one pass, AppendEdited
// rebuilds it with members replaced, added or removed by splicing bytes.
// It serves the filter's hot path: a request body is scanned once, however
// many top-level fields the gateway reads or rewrites. Nested values are
// validated but not indexed; use Value on a member's raw bytes to look
// inside. The zero value is ready for Parse, and reusing one avoids
// allocation.
type Object struct {
	src     []byte
	Members []Member
}

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
		o.Members = append(o.Members, Member{Key: StringView(src[i+1 : kend-1]), Value: src[v:vend], start: i})
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
