package jsonbytes

import "unsafe"

// An Editor changes the top-level members of an object while it is
// written, so that a document is produced once with its edits in it
// rather than written, indexed again and copied. Keys are as they appear
// between the quotes in JSON (escaped).
type Editor interface {
	// Keys lists every key Edit may change, add or leave out, each once:
	// members named otherwise are kept as they are without asking. Those
	// the object lacks are offered to Edit in this order.
	Keys() []string

	// Edit returns the value the member Keys()[i] gets. raw is the value
	// as written, nil when the object has no such member. It returns raw
	// itself to leave the member as it is and nil to leave it out; the
	// result must not alias anything but raw.
	Edit(i int, raw []byte) ([]byte, error)
}

// ObjectWriter appends an object member by member, passing each member
// to an Editor as it is finished. The caller writes each value itself
// between Key and End, so a value can be converted straight into the
// output. The zero value is ready for Open.
type ObjectWriter struct {
	ed   Editor
	keys []string // ed.Keys()
	// seen marks the keys already written, edited out or not: bit i for
	// keys[i], and the keys beyond 64 in more.
	seen  uint64
	more  []string
	key   string // the open member's key
	start int    // offset of the open member: its comma, or its key
	value int    // offset of the open member's value
	err   error
}

// Open appends '{' to b and starts an object edited by ed (nil: none).
func (w *ObjectWriter) Open(b []byte, ed Editor) []byte {
	*w = ObjectWriter{ed: ed}
	if ed != nil {
		w.keys = ed.Keys()
	}
	return append(b, '{')
}

// Key appends the separator and key of a member whose value the caller
// appends next.
func (w *ObjectWriter) Key(b []byte, key string) []byte {
	w.key, w.start = key, len(b)
	if len(b) > 0 && b[len(b)-1] != '{' { // no value ends with '{'
		b = append(b, ',')
	}
	b = appendKey(b, key)
	w.value = len(b)
	return b
}

// End finishes the member Key opened: the Editor's value replaces the
// one written, or the member is taken out.
func (w *ObjectWriter) End(b []byte) []byte {
	if w.ed == nil || w.err != nil {
		return b
	}
	i := w.see(w.key)
	if i < 0 {
		return b
	}
	raw := b[w.value:]
	v, err := w.ed.Edit(i, raw)
	switch {
	case err != nil:
		w.err = err
	case v == nil:
		b = b[:w.start]
	case !Same(v, raw):
		b = append(b[:w.value], v...)
	}
	return b
}

// see notes that the object has a member named key, so that Close does
// not add one, and returns its index in the Editor's keys, -1 if none.
func (w *ObjectWriter) see(key string) int {
	for i, k := range w.keys {
		if k == key {
			if i < 64 {
				w.seen |= 1 << i
			} else {
				w.more = append(w.more, key)
			}
			return i
		}
	}
	return -1
}

// Drop takes back the member Key opened, for a value that turned out to
// have nothing in it.
func (w *ObjectWriter) Drop(b []byte) []byte { return b[:w.start] }

// Member appends a whole member.
func (w *ObjectWriter) Member(b []byte, key string, raw []byte) []byte {
	return w.End(append(w.Key(b, key), raw...))
}

// Close appends the members the Editor adds and the closing '}'. The
// error is the first the Editor returned.
func (w *ObjectWriter) Close(b []byte) ([]byte, error) {
	for i, k := range w.keys {
		if w.err != nil {
			break
		}
		if i < 64 && w.seen&(1<<i) != 0 || i >= 64 && contains(w.more, k) {
			continue // written
		}
		v, err := w.ed.Edit(i, nil)
		switch {
		case err != nil:
			w.err = err
		case v != nil:
			b = append(w.Key(b, k), v...)
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	return append(b, '}'), nil
}

// Edit applies ed to the indexed object: it returns the object's own
// bytes when ed changes nothing, and otherwise dst with the edited object
// appended (see AppendEdited).
func (o *Object) Edit(dst []byte, ed Editor) ([]byte, error) {
	if ed == nil {
		return o.src, nil
	}
	var setsInl [8]Set
	var delsInl [4]string
	sets, dels := setsInl[:0], delsInl[:0]
	keys := ed.Keys()
	var found uint64 // bit i: the object has a member keys[i]
	for _, m := range o.Members {
		i := len(keys)
		for j, k := range keys { // written out: a call per member costs in Wasm
			if k == m.Key {
				i = j
				break
			}
		}
		if i == len(keys) {
			continue
		}
		if i < 64 {
			found |= 1 << i
		}
		v, err := ed.Edit(i, m.Value)
		switch {
		case err != nil:
			return nil, err
		case v == nil:
			dels = append(dels, m.Key)
		case !Same(v, m.Value) && indexSet(sets, m.Key) < 0:
			sets = append(sets, Set{Key: m.Key, Raw: v})
		}
	}
	for i, k := range keys {
		if i < 64 && found&(1<<i) != 0 || i >= 64 && o.Has(k) {
			continue
		}
		v, err := ed.Edit(i, nil)
		if err != nil {
			return nil, err
		}
		if v != nil {
			sets = append(sets, Set{Key: k, Raw: v})
		}
	}
	if len(sets) == 0 && len(dels) == 0 {
		return o.src, nil
	}
	return o.AppendEdited(dst, sets, dels), nil
}

// Bytes returns the document Parse indexed.
func (o *Object) Bytes() []byte { return o.src }

// Same reports whether a and b are the same bytes in memory, not merely
// equal ones.
func Same(a, b []byte) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}
