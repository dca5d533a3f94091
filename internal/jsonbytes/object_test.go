package jsonbytes

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":"x\"y\\z\u00e9","b":[1,-2.5e+3,true,false,null,{"c":{}}],"d":""}`,
		`[]`, `1`, `"s"`, `null`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`,
		`{"a":"x`, `{"a":"\x"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", `{"a" 1}`, `{"a":1,}`, `{"a":1 "b":2}`,
		`{a:1}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":1}}`, `{"a":1} x`, ``, ` `, `{"a":"` + strings.Repeat("é long string ", 50) + `"}`,
		`{"k":"` + strings.Repeat("x", 7) + `\"` + strings.Repeat("y", 9) + `"}`, `{"a":"tab	in"}`, `{"a":[[[[]]]]}`,
		`{"a":"\ud83d\ude00"}`, `{"a":1.5E-7}`, `{"a":-0}`, `{"a":0.0}`, `{"a":"` + "\x7f" + `"}`,
	}
	for _, d := range docs {
		var o Object
		err := o.Parse([]byte(d))
		valid := json.Valid([]byte(d))
		isObj := valid && strings.HasPrefix(strings.TrimSpace(d), "{")
		switch {
		case isObj && err != nil:
			t.Errorf("%q: valid object rejected: %v", d, err)
		case valid && !isObj && err != ErrNotObject:
			t.Errorf("%q: valid non-object gave %v", d, err)
		case !valid && (err == nil || err == ErrNotObject):
			t.Errorf("%q: invalid JSON accepted", d)
		}
	}
}

func TestIndexAndEdit(t *testing.T) {
	src := []byte(`{ "model" : "gpt-3.5", "messages":[{"role":"user","content":"hi"}],
		"max_tokens": 9, "stream":true , "a\"b": {"x":1} }`)
	var o Object
	if err := o.Parse(src); err != nil {
		t.Fatal(err)
	}
	if len(o.Members) != 5 {
		t.Fatalf("members %d", len(o.Members))
	}
	if m, ok := o.String("model"); !ok || m != "gpt-3.5" {
		t.Fatalf("model %q", m)
	}
	if v, _ := o.Get("stream"); string(v) != "true" {
		t.Fatalf("stream %q", v)
	}
	if v, _ := o.Get(`a\"b`); string(v) != `{"x":1}` {
		t.Fatalf("escaped key %q", v)
	}
	out := o.AppendEdited(nil, []Set{{"model", []byte(`"gpt-4o"`)}, {"stream_options", []byte(`{"include_usage":true}`)}}, []string{"max_tokens"})
	want := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"a\"b": {"x":1},"stream_options":{"include_usage":true}}`
	if string(out) != want {
		t.Fatalf("edited\n got %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("edited output is not JSON")
	}
	var empty Object
	empty.Parse([]byte(`{}`))
	if got := empty.AppendEdited(nil, []Set{{"a", []byte("1")}}, nil); string(got) != `{"a":1}` {
		t.Fatalf("add to empty: %s", got)
	}
}

func TestErrorOffsets(t *testing.T) {
	for doc, off := range map[string]int{`{"a":tru}`: 5, `{"a":1,}`: 7, `{"a":"x`: 7, `{"a":[1 2]}`: 8, `{"a":1} x`: 8} {
		var o Object
		err := o.Parse([]byte(doc))
		se, ok := err.(*SyntaxError)
		if !ok || se.Offset != off {
			t.Errorf("%q: %v, want offset %d", doc, err, off)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	doc := `{"a":` + strings.Repeat("[", MaxDepth+10) + strings.Repeat("]", MaxDepth+10) + `}`
	var o Object
	if err := o.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("deep nesting: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c\n"}]}`, `{"model":"x","stream":true}`, `[1]`, `{"a":"\u00e9"}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Object
		err := o.Parse(b)
		valid := json.Valid(b)
		if valid != (err == nil || err == ErrNotObject) {
			t.Fatalf("%q: Parse %v, json.Valid %v", b, err, valid)
		}
		if err == nil {
			out := o.AppendEdited(nil, []Set{{"z", []byte(`1`)}}, []string{"a"})
			if !json.Valid(out) {
				t.Fatalf("%q edited to invalid %q", b, out)
			}
		}
	})
}

func BenchmarkParse100KB(b *testing.B) {
	doc := []byte(`{"model":"gpt-4","messages":[{"role":"user","content":"` + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2300) + `"}],"stream":true}`)
	b.SetBytes(int64(len(doc)))
	var o Object
	for i := 0; i < b.N; i++ {
		if err := o.Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}
