package jsonbytes

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Value's accessors replace gjson's: on valid JSON they must answer as
// gjson does, except where gjson is documented wrong below.
func TestValueAgreesWithGJSON(t *testing.T) {
	docs := []string{
		`{"a":"x","n":12,"f":1.50,"e":1e3,"e21":1e21,"small":1E-7,"neg":-7,"big":9007199254740993,"t":true,"f0":false,"z":null,
		  "s":"\u00e9\ud83d\ude00 \"q\" \\ \/ \n","o":{"b":{"c":[10,{"d":"deep"}]}},"arr":[1,"2",[3]],
		  "num_s":"42","bool_s":"TRUE","empty":"","k\"q":1,"dup":1,"dup":2,"choices":[{"delta":{"content":"hi"}}]}`,
		` [ 1 , "two" , { "three" : 3 } ] `,
		`"just a string"`, `12.5`, `-0`, `true`, `null`,
	}
	paths := []string{"a", "n", "f", "e", "e21", "small", "neg", "big", "t", "f0", "z", "s", "o", "o.b", "o.b.c", "o.b.c.0", "o.b.c.1.d", "o.b.c.2",
		"arr.0", "arr.1", "arr.2.0", "num_s", "bool_s", "empty", "dup", "missing", "choices.0.delta", "choices.0.delta.content", "0", "2.three", "1"}
	for _, d := range docs {
		root := Parse([]byte(d))
		// gjson keeps the whitespace after a container; Parse does not.
		if got, want := string(root), strings.TrimSpace(gjson.Parse(d).Raw); got != want {
			t.Errorf("Parse(%s) = %s, gjson %s", d, got, want)
		}
		for _, p := range paths {
			v, g := root.Get(p), gjson.Get(d, p)
			if string(v) != g.Raw || v.Exists() != g.Exists() {
				t.Errorf("%s: Get(%q) = %s, gjson %s", d, p, v, g.Raw)
				continue
			}
			if v.String() != g.String() || v.Str() != g.Str || v.Int() != g.Int() || v.Float() != g.Float() || v.Bool() != g.Bool() {
				t.Errorf("%s: Get(%q): String %q/%q Str %q/%q Int %d/%d Float %v/%v Bool %v/%v", d, p,
					v.String(), g.String(), v.Str(), g.Str, v.Int(), g.Int(), v.Float(), g.Float(), v.Bool(), g.Bool())
			}
			if v.IsString() != (g.Type == gjson.String) || v.IsNumber() != (g.Type == gjson.Number) || v.IsObject() != g.IsObject() || v.IsArray() != g.IsArray() {
				t.Errorf("%s: Get(%q): kind differs from gjson's %v", d, p, g.Type)
			}
		}
		var keys, gkeys []string
		root.ForEach(func(k, v Value) bool { keys = append(keys, k.Str()+"="+string(v)); return true })
		gjson.Parse(d).ForEach(func(k, v gjson.Result) bool { gkeys = append(gkeys, k.Str+"="+v.Raw); return true })
		if strings.Join(keys, "|") != strings.Join(gkeys, "|") {
			t.Errorf("%s: ForEach\n got %q\ngjson %q", d, keys, gkeys)
		}
	}
}

// Where Value differs from gjson, on purpose.
func TestValueEdgeCases(t *testing.T) {
	tests := []struct {
		doc, path, want string // want: String()
	}{
		// A lone surrogate is U+FFFD and the next escape is kept, as in
		// encoding/json (gjson drops the "A").
		{`{"s":"\ud800\u0041"}`, "s", "\uFFFDA"},
		{`{"s":"\udc00"}`, "s", "\uFFFD"},
		// Invalid UTF-8 is kept as it is.
		{"{\"s\":\"a\xffb\"}", "s", "a\xffb"},
		// An escaped key matches its unescaped name.
		{`{"\u0061":1}`, "a", "1"},
		{`{"a.b":1,"a":{"b":2}}`, "a.b", "2"}, // '.' always separates
		{`[1,2]`, "-1", ""},
		{`[1,2]`, "+1", ""},
		{`{"a":1}`, "a.b", ""},
	}
	for _, tt := range tests {
		if got := Parse([]byte(tt.doc)).Get(tt.path).String(); got != tt.want {
			t.Errorf("%s: Get(%q).String() = %q, want %q", tt.doc, tt.path, got, tt.want)
		}
	}
	if v := Value(`{"a.b":1}`).Member("a.b"); string(v) != "1" {
		t.Errorf("Member with a dot: %s", v)
	}
}

// Malformed documents and hostile nesting: accessors return zero values
// and never panic or recurse.
func TestValueMalformed(t *testing.T) {
	deep := strings.Repeat(`{"a":[`, 100000)
	for _, d := range []string{``, `{`, `{"a"`, `{"a":`, `{"a":"x`, `[1,`, `}`, `"`, `"\`, `{"a":1,"b"}`, deep, deep + `1` + strings.Repeat(`]}`, 100000)} {
		v := Parse([]byte(d))
		v.Get("a.0.a.0.b")
		v.ForEach(func(k, v Value) bool { _, _ = v.String(), k.Str(); return true })
		_, _, _, _ = v.String(), v.Int(), v.Float(), v.Bool()
	}
}

// SetMember and SetPath write what sjson wrote, keeping the document's
// whitespace.
func TestSetAgreesWithSJSON(t *testing.T) {
	tests := []struct{ doc, path, raw string }{
		{`{"a":1}`, "a", `2`},
		{`{"a":1}`, "b", `true`},
		{`{}`, "b", `{"c":1}`},
		{`{"include_usage":false}`, "include_usage", `true`},
		{`{"x":1,"include_usage":false,"y":2}`, "include_usage", `true`},
		{`{"inferenceConfig":{"temperature":0.5}}`, "inferenceConfig.maxTokens", `5`},
		{`{"inferenceConfig":{"maxTokens":1}}`, "inferenceConfig.maxTokens", `5`},
		{`{"messages":[]}`, "inferenceConfig.maxTokens", `5`},
		{`{"a":{"b":{}}}`, "a.b.c", `"x"`},
	}
	for _, tt := range tests {
		got, err := SetPath([]byte(tt.doc), tt.path, []byte(tt.raw))
		want, _ := sjson.SetRaw(tt.doc, tt.path, tt.raw)
		if err != nil || string(got) != want {
			t.Errorf("SetPath(%s, %q, %s) = %s, %v; sjson %s", tt.doc, tt.path, tt.raw, got, err, want)
		}
	}
	// Whitespace stays; only the value changes.
	doc := "{ \"a\" : 1 ,\n \"b\" : { \"c\" : 2 } }"
	for path, want := range map[string]string{
		"a":   "{ \"a\" : 9 ,\n \"b\" : { \"c\" : 2 } }",
		"b.c": "{ \"a\" : 1 ,\n \"b\" : { \"c\" : 9 } }",
		"b.d": "{ \"a\" : 1 ,\n \"b\" : { \"c\" : 2,\"d\":9 } }",
		"z":   "{ \"a\" : 1 ,\n \"b\" : { \"c\" : 2 },\"z\":9 }",
	} {
		if got, _ := SetPath([]byte(doc), path, []byte("9")); string(got) != want {
			t.Errorf("SetPath(%q) = %q, want %q", path, got, want)
		}
	}
	// A key needing escapes is written escaped, and matched unescaped.
	got, _ := SetMember([]byte(`{"a\"b":1}`), `a"b`, []byte("2"))
	if string(got) != `{"a\"b":2}` {
		t.Errorf("escaped key: %s", got)
	}
	got, _ = SetMember([]byte(`{}`), "a.b\n", []byte("2"))
	if string(got) != `{"a.b\n":2}` {
		t.Errorf("new escaped key: %s", got)
	}
	for _, bad := range []string{``, `[]`, `"s"`, `{"a":`, `{"a" 1}`} {
		if _, err := SetMember([]byte(bad), "a", []byte("1")); err == nil {
			t.Errorf("SetMember(%q) accepted", bad)
		}
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c\n"}]}`, `{"a":"\ud83d\ude00","b":1.5e3}`, `[1,"x"]`, `"s"`, `{`} {
		f.Add([]byte(s), "a.1.b")
	}
	f.Fuzz(func(t *testing.T, b []byte, path string) {
		v := Parse(b)
		got := v.Get(path)
		got.ForEach(func(k, v Value) bool { _, _, _, _ = k.Str(), v.String(), v.Int(), v.Bool(); return true })
		if !Valid(b) {
			return
		}
		// On valid JSON the answer is gjson's, and strings decode as
		// encoding/json decodes them.
		if g := gjson.GetBytes(b, path); simplePath(path) && string(got) != strings.TrimSpace(g.Raw) {
			t.Fatalf("%q Get(%q) = %s, gjson %s", b, path, got, g.Raw)
		}
		if got.IsString() {
			var s string
			if json.Unmarshal(got, &s) == nil && strings.ToValidUTF8(got.Str(), "\uFFFD") != s {
				t.Fatalf("%s: Str %q, encoding/json %q", got, got.Str(), s)
			}
		}
		if v.IsObject() {
			out, err := SetPath(b, path, []byte(`{"z":1}`))
			if err != nil || !Valid(out) {
				t.Fatalf("%q SetPath(%q) = %q, %v", b, path, out, err)
			}
		}
	})
}

// simplePath reports whether path means the same to Get and to gjson:
// non-empty keys of letters, digits, '_' and '-' (gjson gives meaning to
// most punctuation).
func simplePath(path string) bool {
	for _, key := range strings.Split(path, ".") {
		if key == "" {
			return false
		}
		for _, c := range key {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}
