package convert

import (
	"encoding/binary"
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// JSON helpers shared by the translators, over internal/jsonbytes (its
// Reader is the single-pass cursor every translator walks bodies with).
// Raw values ("raw") are JSON texts as they stand in the input: a string
// with its quotes and escapes, an object with its braces.

// appendStringValue appends a JSON string for r: a string's raw text is
// copied as is (already escaped), anything else is converted with String.
func appendStringValue(dst []byte, r jsonbytes.Value) []byte {
	if r.IsString() {
		return append(dst, r...)
	}
	return jsonbytes.AppendString(dst, r.String())
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendJSONAsString writes the raw JSON value v as a JSON string holding
// its compact text, as OpenAI wants tool-call arguments. A missing value is
// "{}".
func appendJSONAsString(b, raw []byte) []byte {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	b = append(b, '"')
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '"':
				inString = true
				b = append(b, '\\', '"')
				continue
			}
			b = append(b, c)
			continue
		}
		switch c {
		case '"':
			inString = false
			b = append(b, '\\', '"')
		case '\\':
			// An escape inside a string: keep it escaped, with its
			// escaped character (which may be '"' or '\\').
			b = append(b, '\\', '\\')
			if i+1 < len(raw) {
				i++
				if raw[i] == '"' || raw[i] == '\\' {
					b = append(b, '\\')
				}
				b = append(b, raw[i])
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendSep appends a comma when b holds an element after start.
func appendSep(b []byte, start int) []byte {
	if len(b) > start {
		return append(b, ',')
	}
	return b
}

// appendRawOr appends raw, or def when raw is empty.
func appendRawOr(b, raw []byte, def string) []byte {
	if len(raw) == 0 {
		return append(b, def...)
	}
	return append(b, raw...)
}

// appendAsString appends raw if it is a JSON string; other values are
// quoted as text, and a missing one becomes "".
func appendAsString(b, raw []byte) []byte {
	if rawString(raw) {
		return append(b, raw...)
	}
	return jsonbytes.AppendString(b, jsonbytes.StringView(raw))
}

// isNumber reports whether raw is a JSON number.
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// memberOf is member for a raw object.
func memberOf(raw []byte, name string) []byte {
	if len(raw) == 0 {
		return nil
	}
	r := jsonbytes.NewReader(raw)
	return r.Member(name)
}

// Helpers over raw values returned by jsonbytes.Reader.

// hasPrefix is bytes.HasPrefix eight bytes at a time: in Wasm the
// runtime's memequal compares byte by byte, and a stream compares a chunk
// head of ~200 bytes per event.
func hasPrefix(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	i := 0
	for ; i+8 <= len(prefix); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != binary.LittleEndian.Uint64(prefix[i:]) {
			return false
		}
	}
	for ; i < len(prefix); i++ {
		if b[i] != prefix[i] {
			return false
		}
	}
	return true
}

// rawString reports whether raw is a JSON string.
func rawString(raw []byte) bool { return len(raw) >= 2 && raw[0] == '"' }

// rawNonEmptyString reports whether raw is a string other than "".
func rawNonEmptyString(raw []byte) bool { return len(raw) > 2 && raw[0] == '"' }

// inner returns a raw string's text without quotes, escapes untouched.
func inner(raw []byte) []byte {
	if rawString(raw) {
		return raw[1 : len(raw)-1]
	}
	return nil
}

// isTrue reports whether raw is the literal true.
func isTrue(raw []byte) bool { return string(raw) == "true" }

// outputSize is room for a converted request: the client's size and some
// (a conversion adds a little structure), so that the output is not
// reallocated as it grows.
func outputSize(req *jsonbytes.Object) int {
	n := len(req.Bytes())
	return n + n/8 + 256
}
