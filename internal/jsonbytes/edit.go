package jsonbytes

import (
	"errors"
	"strings"
)

var errNotObject = errors.New("jsonbytes: the document to edit is not a JSON object")

// SetMember returns a copy of the object doc with its member key set to
// raw, which must be valid JSON. The first member of that name has its
// value replaced; without one, the member is added after the last. All
// other bytes, whitespace included, are kept as they are.
func SetMember(doc []byte, key string, raw []byte) ([]byte, error) {
	return set(doc, key, "", raw)
}

// SetPath is SetMember for a member of nested objects, named by keys
// separated by '.' ("inferenceConfig.maxTokens"), like sjson.SetRaw:
// missing objects on the path are created, and a value on it that is not an
// object is replaced by one.
func SetPath(doc []byte, path string, raw []byte) ([]byte, error) {
	key, rest, _ := strings.Cut(path, ".")
	return set(doc, key, rest, raw)
}

func set(doc []byte, key, rest string, raw []byte) ([]byte, error) {
	v := Parse(doc)
	if !v.IsObject() {
		return nil, errNotObject
	}
	at := cap(doc) - cap(v) // v's offset in doc
	out := make([]byte, 0, len(doc)+len(key)+len(rest)+len(raw)+8)
	out = append(out, doc[:at]...)
	out, ok := appendSet(out, v, key, rest, raw)
	if !ok {
		return nil, errors.New("jsonbytes: the document to edit is not valid JSON")
	}
	return append(out, doc[at+len(v):]...), nil
}

// appendSet appends obj with member key, or the member at key.rest when
// rest is not empty, set to raw.
func appendSet(dst []byte, obj Value, key, rest string, raw []byte) ([]byte, bool) {
	r := NewReader(obj)
	r.i = 1
	last := 1 // just after '{' or after the last member's value
	for r.More('}') {
		k := r.Key()
		val := r.Raw()
		if r.bad {
			return dst, false
		}
		if !keyEquals(k, key) {
			last = r.i
			continue
		}
		dst = append(dst, obj[:r.i-len(val)]...)
		if rest == "" {
			dst = append(dst, raw...)
		} else if Value(val).IsObject() {
			next, more, _ := strings.Cut(rest, ".")
			var ok bool
			if dst, ok = appendSet(dst, val, next, more, raw); !ok {
				return dst, false
			}
		} else {
			dst = appendNested(dst, rest, raw)
		}
		return append(dst, obj[r.i:]...), true
	}
	if r.bad {
		return dst, false
	}
	dst = append(dst, obj[:last]...)
	if last > 1 {
		dst = append(dst, ',')
	}
	dst = AppendString(dst, key)
	dst = append(dst, ':')
	if rest == "" {
		dst = append(dst, raw...)
	} else {
		dst = appendNested(dst, rest, raw)
	}
	return append(dst, obj[last:]...), true
}

// appendNested appends {"a":{"b":raw}} for the path "a.b".
func appendNested(dst []byte, path string, raw []byte) []byte {
	n := 0
	for path != "" {
		key, rest, _ := strings.Cut(path, ".")
		dst = append(dst, '{')
		dst = AppendString(dst, key)
		dst = append(dst, ':')
		path = rest
		n++
	}
	dst = append(dst, raw...)
	for ; n > 0; n-- {
		dst = append(dst, '}')
	}
	return dst
}
