package convert

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"
)

// ErrEmptyStream is returned by Stream when the upstream stream ended
// without producing a message (no chunk with content, a finish reason or
// usage). The caller should answer 502: an empty 200 would look like a
// successful, silent completion.
var ErrEmptyStream = errors.New("convert: upstream stream ended without producing a message")

// StreamError is returned by Stream when the upstream reported an error
// inside a successful (200) stream, or cut the stream before its end. The
// bytes returned with it already tell the client, in its protocol.
type StreamError struct {
	Type    string // error type in the client's protocol, e.g. "overloaded_error"
	Message string
}

func (e *StreamError) Error() string {
	return "convert: upstream stream error: " + e.Type + ": " + e.Message
}

// ErrorBody returns the error body a client of protocol p expects, for an
// error the gateway itself produces (status is the HTTP status it will send).
// OpenAI protocols get {"error":{"message","type","param","code"}}, Anthropic
// gets {"type":"error","error":{"type","message"}}.
func ErrorBody(p Protocol, status int, message string) []byte {
	if p == AnthropicMessages {
		return appendAnthropicError(nil, anthropicErrorType(status), message)
	}
	return appendOpenAIError(nil, openAIErrorType(status), message, "")
}

// toAnthropicError rewrites any upstream error body (OpenAI shape, Anthropic
// shape, a bare {"message"} or plain text) into Anthropic's error object.
// Anthropic's error types follow the HTTP status, so the type comes from
// the status unless the body is already an Anthropic error.
func toAnthropicError(status int, body []byte) []byte {
	typ, msg := upstreamError(body)
	if !isAnthropicErrorType(typ) || gjson.Get(bstr(body), "type").Str != "error" {
		typ = anthropicErrorType(status)
	}
	return appendAnthropicError(make([]byte, 0, 64+len(msg)), typ, msg)
}

// toOpenAIError rewrites any upstream error body into OpenAI's error object.
func toOpenAIError(status int, body []byte) []byte {
	typ, msg := upstreamError(body)
	code := gjson.Get(bstr(body), "error.code")
	codeStr := ""
	if code.Type == gjson.String {
		codeStr = code.Str
	}
	switch typ {
	case "invalid_request_error", "authentication_error", "permission_error",
		"rate_limit_error", "server_error", "insufficient_quota":
	case "not_found_error", "request_too_large":
		typ = "invalid_request_error"
	case "billing_error":
		typ = "insufficient_quota"
	default:
		typ = openAIErrorType(status)
	}
	return appendOpenAIError(make([]byte, 0, 80+len(msg)), typ, msg, codeStr)
}

// upstreamError finds the error type and message in an upstream error body.
// Both OpenAI and Anthropic put them at error.type and error.message; other
// providers use a top-level message (Bedrock) or plain text.
func upstreamError(body []byte) (typ, msg string) {
	s := bstr(body)
	if gjson.Valid(s) {
		e := gjson.Get(s, "error")
		switch {
		case e.IsObject():
			typ, msg = e.Get("type").String(), e.Get("message").String()
		case e.Type == gjson.String:
			msg = e.Str
		}
		if msg == "" {
			msg = gjson.Get(s, "message").String()
		}
		if msg == "" {
			msg = gjson.Get(s, "detail").String()
		}
	}
	if msg == "" {
		msg = s
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
	}
	if msg == "" {
		msg = "upstream returned an empty error body"
	}
	return typ, msg
}

func isAnthropicErrorType(t string) bool {
	switch t {
	case "invalid_request_error", "authentication_error", "billing_error",
		"permission_error", "not_found_error", "request_too_large",
		"rate_limit_error", "timeout_error", "api_error", "overloaded_error":
		return true
	}
	return false
}

// anthropicErrorType maps an HTTP status to Anthropic's error type
// (docs.claude.com/en/api/errors).
func anthropicErrorType(status int) string {
	switch status {
	case 400, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 503, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// openAIErrorType maps an HTTP status to the error type OpenAI uses for it.
func openAIErrorType(status int) string {
	switch status {
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 429:
		return "rate_limit_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "server_error"
}

func appendAnthropicError(dst []byte, typ, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, msg)
	return append(dst, "}}"...)
}

func appendOpenAIError(dst []byte, typ, msg, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = appendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"param":null,"code":`...)
	if code == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, code)
	}
	return append(dst, "}}"...)
}

// JSON reading and writing helpers shared by the translators of this
// package (they would sit well in a json.go of their own).

// bstr views b as a string without copying. The string must not outlive a
// change to b; the translators only read bodies they were handed.
func bstr(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendString appends s as a quoted JSON string. Unlike encoding/json it
// does not escape <, > and &: the output is an API body, not HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends the JSON-escaped content of s, without quotes.
func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendStringValue appends a JSON string for r: a string's raw text is
// copied as is (already escaped), anything else is converted with String.
func appendStringValue(dst []byte, r gjson.Result) []byte {
	if r.Type == gjson.String {
		return append(dst, r.Raw...)
	}
	return appendString(dst, r.String())
}

// appendRaw appends r's JSON text, or def when r does not exist.
func appendRaw(dst []byte, r gjson.Result, def string) []byte {
	if !r.Exists() || r.Raw == "" {
		return append(dst, def...)
	}
	return append(dst, r.Raw...)
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

// appendSep appends a comma when b already holds an element.
func appendSep(b []byte) []byte {
	if len(b) > 0 {
		return append(b, ',')
	}
	return b
}

// appendSep2 appends a comma when b holds an element after start.
func appendSep2(b []byte, start int) []byte {
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
	return appendString(b, bstr(raw))
}

// isNumber reports whether raw is a JSON number.
func isNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// jsonReader is a forward-only cursor over a JSON document. Converters
// walk the input once with it, descending into the values they convert and
// skipping the rest; strings are skipped with bytes.IndexByte. It trusts
// the input to be JSON: on malformed input it sets bad, loops end, and the
// caller returns an error. It never panics and never loops forever.
//
//	if r.enter('{') {
//		for r.more('}') {
//			switch string(r.key()) {
//			case "messages": …
//			default: r.skip()
//			}
//		}
//	}
type jsonReader struct {
	b   []byte
	i   int
	bad bool
}

func (r *jsonReader) ws() {
	if r.i < len(r.b) && r.b[r.i] > ' ' { // compact JSON: nothing to skip
		return
	}
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// kind returns the first byte of the next value: '"', '{', '[', 't', 'f',
// 'n', a digit or '-'; 0 at the end of input.
func (r *jsonReader) kind() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// enter consumes open ('{' or '[') if the next value starts with it. If
// not, it skips the value and returns false.
func (r *jsonReader) enter(open byte) bool {
	if r.kind() == open {
		r.i++
		return true
	}
	r.skip()
	return false
}

// more reports whether the object or array being read has another member,
// consuming the separating comma, or the closing byte at the end.
func (r *jsonReader) more(close byte) bool {
	if r.bad {
		return false
	}
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == ',' {
		r.i++
		r.ws()
	}
	if r.i >= len(r.b) {
		r.bad = true
		return false
	}
	if r.b[r.i] == close {
		r.i++
		return false
	}
	return true
}

// key reads an object key and its colon, returning the key's raw text
// (without quotes, escapes untouched). Keys are short: they are scanned
// inline rather than with skipString.
func (r *jsonReader) key() []byte {
	r.ws()
	b, i := r.b, r.i
	if i >= len(b) || b[i] != '"' {
		r.i, r.bad = len(b), true
		return nil
	}
	j := i + 1
	for j < len(b) && b[j] != '"' {
		if b[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(b) {
		r.i, r.bad = len(b), true
		return nil
	}
	k := b[i+1 : j]
	for j++; j < len(b) && b[j] <= ' '; j++ {
	}
	if j >= len(b) || b[j] != ':' {
		r.i, r.bad = len(b), true
		return nil
	}
	r.i = j + 1
	return k
}

// str reads a string value and returns its raw text with quotes. Any other
// value is skipped and nil returned.
func (r *jsonReader) str() []byte {
	if r.kind() != '"' {
		r.skip()
		return nil
	}
	start := r.i
	i := skipString(r.b, start)
	if i < 0 {
		r.i, r.bad = len(r.b), true
		return nil
	}
	r.i = i
	return r.b[start:i]
}

// raw reads any value and returns its raw text.
func (r *jsonReader) raw() []byte {
	r.ws()
	start := r.i
	r.skip()
	if r.bad {
		return nil
	}
	return r.b[start:r.i]
}

func (r *jsonReader) skip() {
	i := -1
	switch r.kind() {
	case '"':
		i = skipString(r.b, r.i)
	case '{', '[':
		i = skipContainer(r.b, r.i)
	case 0, '}', ']', ',', ':':
	default: // number, true, false, null
		i = r.i
		for i < len(r.b) {
			if c := r.b[i]; c == ',' || c == '}' || c == ']' || c <= ' ' {
				break
			}
			i++
		}
	}
	if i <= r.i {
		r.i, r.bad = len(r.b), true
		return
	}
	r.i = i
}

// skipString returns the index after the string whose quote is at b[i],
// or -1. Short strings (keys, types, ids) are scanned inline; the rest of
// long ones with bytes.IndexByte, which is vectorised natively and
// hand-written in Wasm.
func skipString(b []byte, i int) int {
	start, n := i, len(b)
	i++
	for end := min(i+16, n); i < end; i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
	}
	for i < n {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		k := i - 1
		for k > start && b[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 { // an even number of backslashes: not escaped
			return i + 1
		}
		i++
	}
	return -1
}

// skipContainer returns the index after the object or array opening at
// b[i], or -1.
func skipContainer(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// Helpers over raw values returned by jsonReader.

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

// unquote returns a raw string's value, unescaped. Without escapes it
// does not allocate: the result aliases raw.
func unquote(raw []byte) string {
	if !rawString(raw) {
		return ""
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return bstr(in)
	}
	return gjson.Parse(bstr(raw)).Str
}

// isTrue reports whether raw is the literal true.
func isTrue(raw []byte) bool { return string(raw) == "true" }

// appendUnescaped appends the value of the JSON string content s (without
// quotes): escapes are decoded, invalid ones are copied as they are.
func appendUnescaped(b, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 || i+1 >= len(s) {
			return append(b, s...)
		}
		b = append(b, s[:i]...)
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, n := decodeU(s)
			if n == 0 {
				b = append(b, '\\', 'u')
				continue
			}
			s = s[n:]
			if utf16.IsSurrogate(r) {
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if r2, n2 := decodeU(s[2:]); n2 > 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r, s = dec, s[6:]
						}
					}
				}
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/' and anything unexpected
			b = append(b, c)
		}
	}
}

// decodeU reads the 4 hex digits of a \u escape.
func decodeU(s []byte) (rune, int) {
	if len(s) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, 0
		}
		r = r<<4 | rune(c)
	}
	return r, 4
}
