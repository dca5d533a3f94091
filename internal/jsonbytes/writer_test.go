package jsonbytes

import (
	"errors"
	"testing"
)

// setsEditor sets, deletes (nil) or adds the members it names among its
// keys, and fails on the key "fail".
type setsEditor struct {
	sets map[string][]byte
	keys []string
}

func (e *setsEditor) Edit(i int, raw []byte) ([]byte, error) {
	key := e.keys[i]
	if key == "fail" {
		return nil, errors.New("no")
	}
	if v, ok := e.sets[key]; ok {
		return v, nil
	}
	return raw, nil
}

func (e *setsEditor) Keys() []string { return e.keys }

var writerTests = []struct {
	name    string
	members [][2]string // what the writer is given
	sets    map[string][]byte
	keys    []string
	want    string
}{
	{"no edits", [][2]string{{"a", "1"}, {"b", `"x"`}}, nil, nil, `{"a":1,"b":"x"}`},
	{"replaced in place", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}, map[string][]byte{"b": []byte(`{"n":2}`)}, []string{"b"}, `{"a":1,"b":{"n":2},"c":3}`},
	{"only its keys are edited", [][2]string{{"a", "1"}, {"b", "2"}}, map[string][]byte{"a": nil, "b": nil}, []string{"b"}, `{"a":1}`},
	{"first member left out", [][2]string{{"a", "1"}, {"b", "2"}}, map[string][]byte{"a": nil}, []string{"a"}, `{"b":2}`},
	{"last member left out", [][2]string{{"a", "1"}, {"b", "2"}}, map[string][]byte{"b": nil}, []string{"b"}, `{"a":1}`},
	{"every member left out", [][2]string{{"a", "1"}}, map[string][]byte{"a": nil}, []string{"a"}, `{}`},
	{"added in the keys' order", [][2]string{{"a", "1"}}, map[string][]byte{"z": []byte("26"), "y": []byte("25")}, []string{"z", "a", "y", "none"}, `{"a":1,"z":26,"y":25}`},
	{"a member written is not added again", [][2]string{{"a", "1"}, {"b", "2"}}, map[string][]byte{"b": []byte("3")}, []string{"b"}, `{"a":1,"b":3}`},
	{"a member left out is not added back", [][2]string{{"a", "1"}}, map[string][]byte{"a": nil}, []string{"a"}, `{}`},
}

func TestObjectWriter(t *testing.T) {
	for _, tt := range writerTests {
		t.Run(tt.name, func(t *testing.T) {
			var w ObjectWriter
			b := w.Open([]byte("prefix "), &setsEditor{tt.sets, tt.keys})
			for _, m := range tt.members {
				b = w.Member(b, m[0], []byte(m[1]))
			}
			b = w.Drop(append(w.Key(b, "dropped"), '['))
			got, err := w.Close(b)
			if err != nil || string(got) != "prefix "+tt.want {
				t.Errorf("got %s, %v; want prefix %s", got, err, tt.want)
			}
		})
	}
}

// Object.Edit makes the same object of an indexed one, and returns the
// source itself when nothing changes.
func TestObjectEdit(t *testing.T) {
	for _, tt := range writerTests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte("{")
			for i, m := range tt.members {
				if i > 0 {
					src = append(src, ',')
				}
				src = append(append(append(src, '"'), m[0]...), `":`...)
				src = append(src, m[1]...)
			}
			src = append(src, '}')
			var o Object
			if err := o.Parse(src); err != nil {
				t.Fatal(err)
			}
			got, err := o.Edit(nil, &setsEditor{tt.sets, tt.keys})
			switch {
			case err != nil:
				t.Fatal(err)
			case tt.sets == nil && !Same(got, src):
				t.Errorf("nothing changed, yet the object was copied: %s", got)
			case tt.sets != nil && string(got) != tt.want:
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestEditorError(t *testing.T) {
	ed := &setsEditor{keys: []string{"fail"}}
	var w ObjectWriter
	b := w.Member(w.Open(nil, ed), "fail", []byte("1"))
	if _, err := w.Close(w.Member(b, "b", []byte("2"))); err == nil {
		t.Error("ObjectWriter: the Editor's error was lost")
	}
	var o Object
	if err := o.Parse([]byte(`{"fail":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Edit(nil, ed); err == nil {
		t.Error("Object.Edit: the Editor's error was lost")
	}
}
