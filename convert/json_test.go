package convert

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendJSONAsString(t *testing.T) {
	for _, in := range []string{`{}`, `{ "a" : [1, 2 ,{"b":"x y"}] }`, `{"q":"say \"hi\"\\n","u":"\u00e9"}`, `"str"`, `null`} {
		got := appendJSONAsString(nil, []byte(in))
		var s string
		if err := json.Unmarshal(got, &s); err != nil {
			t.Fatalf("%s: not a JSON string: %s", in, got)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if s != compact.String() {
			t.Errorf("%s: got %s, want the compact text %s", in, s, compact.String())
		}
	}
}

func TestHasPrefix(t *testing.T) {
	for _, tc := range []struct {
		b, p string
		want bool
	}{
		{"", "", true}, {"abc", "", true}, {"abc", "abc", true}, {"ab", "abc", false},
		{"0123456789abcdefXYZ", "0123456789abcdef", true}, {"0123456789abcdefXYZ", "0123456789abcdefXY", true},
		{"0123456789abcdefXYZ", "0123456789abcdeg", false}, {"0123456789abcdefXYZ", "0123456789abcdefXZ", false},
		{"0123456x", "01234567", false},
	} {
		if got := hasPrefix([]byte(tc.b), []byte(tc.p)); got != tc.want {
			t.Errorf("hasPrefix(%q, %q) = %v", tc.b, tc.p, got)
		}
	}
}
