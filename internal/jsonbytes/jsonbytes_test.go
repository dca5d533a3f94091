package jsonbytes

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "<&>", "é🙂", "\u2028"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("AppendString(%q) = %s (round trip %q, %v)", s, got, back, err)
		}
		if strings.ContainsAny(string(got[1:len(got)-1]), "\n\r\x00") {
			t.Errorf("AppendString(%q) left a control character: %q", s, got)
		}
	}
}

func TestAppendUnescaped(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s/`, "\n\r\t\b\f", "é🙂\u2028", "\x01"} {
		quoted, _ := json.Marshal(s) // escapes <, >, &, U+2028 as \u…
		got := AppendUnescaped([]byte("x"), quoted[1:len(quoted)-1])
		if string(got) != "x"+s {
			t.Errorf("AppendUnescaped(%s) = %q, want %q", quoted, got[1:], s)
		}
	}
	for in, want := range map[string]string{`\/`: "/", `\ud83d\ude42`: "🙂", `\u00`: `\u00`, `\x`: "x", `a\`: `a\`} {
		if got := string(AppendUnescaped(nil, []byte(in))); got != want {
			t.Errorf("AppendUnescaped(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestReaderMalformed feeds broken JSON: the reader must flag it and
// stop, never panic or loop.
func TestReaderMalformed(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a" 1}`, `{"a":"x`, `{"a":"x\"}`, `{1:2}`, `{"a":[1,2}`, `{"a":}`, `}`, `{"a":{"b":[}}`} {
		r := NewReader([]byte(in))
		if r.Enter('{') {
			for r.More('}') {
				r.Key()
				r.Skip()
			}
		}
		if !r.bad {
			t.Errorf("%q: not flagged as malformed", in)
		}
	}
	for _, in := range []string{`{}`, ` { "a" : [ 1 , "x\\\"" , {"b":null} ] , "c":true } `} {
		r := NewReader([]byte(in))
		n := 0
		if r.Enter('{') {
			for r.More('}') {
				r.Key()
				r.Skip()
				n++
			}
		}
		if r.bad {
			t.Errorf("%q: flagged as malformed after %d members", in, n)
		}
	}
}

// TestSkipString checks skipString against encoding/json on strings of
// every length around the 8-byte words and the 32-byte scan, with quotes
// and backslashes at every position.
func TestSkipString(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "é", `"`, `\`, "\n", "/", "\x01", "🙂"}
	for n := 0; n < 2000; n++ {
		var s strings.Builder
		for range rng.Intn(80) {
			s.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		quoted, _ := json.Marshal(s.String())
		for _, tail := range []string{"", `,"x":"y"}`, `"`, `\"`} {
			if got := SkipString(append(quoted[:len(quoted):len(quoted)], tail...), 0); got != len(quoted) {
				t.Fatalf("SkipString(%s + %s) = %d, want %d", quoted, tail, got, len(quoted))
			}
		}
		// Cut before its closing quote, the string never ends.
		if got := SkipString(quoted[:len(quoted)-1], 0); got != -1 {
			t.Fatalf("SkipString(%s) = %d, want -1", quoted[:len(quoted)-1], got)
		}
	}
}

// TestReaderWhitespace reads the same document compact and with
// whitespace everywhere JSON allows it: the two must read alike.
func TestReaderWhitespace(t *testing.T) {
	compact := `{"a":"x","b":[1,{"c":null},"y\"z",[]],"d":{},"e":true}`
	spaced := " { \"a\" :\t\"x\" ,\n\"b\" : [ 1 , { \"c\" : null } , \"y\\\"z\" , [ ] ] ,\r\n \"d\" : { } , \"e\" : true } "
	read := func(in string) (out []string) {
		var walk func(r *Reader)
		walk = func(r *Reader) {
			switch r.Kind() {
			case '{':
				r.Enter('{')
				for r.More('}') {
					out = append(out, "key "+string(r.Key()))
					walk(r)
				}
				out = append(out, "}")
			case '[':
				r.Enter('[')
				for r.More(']') {
					walk(r)
				}
				out = append(out, "]")
			default:
				out = append(out, string(r.Raw()))
			}
		}
		r := NewReader([]byte(in))
		walk(&r)
		if r.bad {
			t.Errorf("%q: flagged as malformed", in)
		}
		return out
	}
	if got, want := read(spaced), read(compact); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("with whitespace:\n got %q\nwant %q", got, want)
	}
}

func TestReaderMember(t *testing.T) {
	tests := []struct{ in, name, want string }{
		{`{"a":1,"b":{"c":2},"b":3}`, "b", `{"c":2}`}, // the first wins
		{`{"a":1}`, "b", ""},
		{`[{"b":1}]`, "b", ""}, // not an object
		{``, "b", ""},
	}
	for _, tt := range tests {
		if got := Value(tt.in).Member(tt.name); string(got) != tt.want {
			t.Errorf("Member(%s, %q) = %s, want %s", tt.in, tt.name, got, tt.want)
		}
	}
	// member leaves the reader after the object, whatever it found.
	r := Reader{b: []byte(`[{"x":{"y":1},"z":2},"next"]`)}
	r.Enter('[')
	r.More(']')
	if v := r.Member("x"); string(v) != `{"y":1}` || !r.More(']') || string(r.Str()) != `"next"` {
		t.Errorf("member: %s, then the reader is at %d", v, r.i)
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int64
	}{
		{"0", 0}, {"12", 12}, {"-7", -7}, {"9.9", 9}, {"1e3", 1000}, {"-2.5e1", -25},
		{"9223372036854775807", 9223372036854775807}, {"", 0}, {"-", 0}, {"null", 0}, {`"5"`, 0}, {"true", 0},
	} {
		if got := ParseInt([]byte(tc.raw)); got != tc.want {
			t.Errorf("ParseInt(%q) = %d, want %d", tc.raw, got, tc.want)
		}
	}
}
