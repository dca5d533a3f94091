package gcpauth

import (
	"encoding/json"
	"testing"
)

// appendString must escape exactly as encoding/json.Marshal: the JWT
// header and claims are byte-identical to golang.org/x/oauth2/jws's.
func TestAppendStringMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "a@b.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token?a=1&b=<2>",
		"q\"b\\s/", "\b\f\n\r\t\x00\x1f\x7f", "é🙂", "\u2028\u2029", "bad \xff utf-8 \xe2\x82"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a&b<c>\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// readObject agrees with encoding/json on what is JSON and reads string
// members to the same values.
func FuzzReadObject(f *testing.F) {
	for _, s := range []string{`{"a":"x\u00e9\ud83d\ude00","b":[1,{"c":null}],"d":-1.5e3}`, `null`, `[1]`, `{"a":"\ud800x"}`, `{"a":1,}`, "{\"\":\"\xf7\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string]string{}
		err := readObject(b, func(k string, raw []byte) {
			if s, ok := jsonString(raw); ok {
				got[k] = s
			}
		})
		_, isSyntax := err.(*jsonSyntaxError)
		if json.Valid(b) == isSyntax {
			t.Fatalf("%q: readObject %v, json.Valid %v", b, err, json.Valid(b))
		}
		var want map[string]any
		if err == nil && json.Unmarshal(b, &want) == nil {
			for k, v := range want {
				if s, ok := v.(string); ok && got[k] != s && countKey(b, k) == 1 {
					t.Fatalf("%q: member %q read as %q, want %q", b, k, got[k], s)
				}
			}
		}
	})
}

// countKey is how many times readObject saw k: with duplicates the two
// readers may keep different ones.
func countKey(b []byte, k string) int {
	n := 0
	readObject(b, func(key string, _ []byte) {
		if key == k {
			n++
		}
	})
	return n
}
