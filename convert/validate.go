package convert

import (
	"cmp"
	"errors"
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// Converters refuse request members of the wrong shape instead of dropping
// them: a client that sends tools must not get an answer made without
// them. The errors name the member and what it must be, in the words the
// providers use (a 400 invalid_request_error for the client).

// TypeOf names the JSON type of a raw value for an error message: "a
// string", "an object", "an array", "a number", "a boolean", "null".
func TypeOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// invalid is the error for a member that is not what it must be.
func invalid(field, want string, raw []byte) error {
	return errors.New(field + " must be " + want + ", got " + TypeOf(raw))
}

// mustBe is the error for a member that is not what it must be, when its
// value is not at hand.
func mustBe(field, want string) error {
	return errors.New(field + " must be " + want)
}

// absent reports whether an optional member is missing or null.
func absent(raw []byte) bool { return raw == nil || string(raw) == "null" }

// missing is the error for a required member that is absent.
func missing(field, want string) error {
	return errors.New(field + " is required: " + want)
}

// item names the element i of an array member: tools[2].
func item(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

// at locates a member nested in arrays for an error message, such as
// messages[1].content[0]: a top-level member, up to three indexes, and
// the member between them ("content" unless set). It is a value passed
// down as the conversion descends; its text is made only for an error,
// so a valid request allocates nothing for it.
type at struct {
	name, member string
	n            int
	idx          [3]int
}

// item is the location of element i of the array at a.
func (a at) item(i int) at {
	if a.n < len(a.idx) {
		a.idx[a.n] = i
		a.n++
	}
	return a
}

func (a at) String() string {
	b := append([]byte(nil), a.name...)
	for k := range a.n {
		if k > 0 {
			b = append(b, '.')
			b = append(b, cmp.Or(a.member, "content")...)
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(a.idx[k]), 10)
		b = append(b, ']')
	}
	return string(b)
}

// checkNumber refuses a member that is present and not a number.
func checkNumber(field string, raw []byte) error {
	if !absent(raw) && !isNumber(raw) {
		return invalid(field, "a number", raw)
	}
	return nil
}

// checkBool refuses a member that is present and not a boolean.
func checkBool(field string, raw []byte) error {
	if !absent(raw) && string(raw) != "true" && string(raw) != "false" {
		return invalid(field, "a boolean", raw)
	}
	return nil
}

// checkStrings refuses a member that is present and not an array of
// strings; orString also allows one string (OpenAI's stop).
func checkStrings(field string, raw []byte, orString bool) error {
	if absent(raw) || orString && rawString(raw) {
		return nil
	}
	want := "an array of strings"
	if orString {
		want = "a string or an array of strings"
	}
	r := jsonbytes.NewReader(raw)
	if r.Kind() != '[' {
		return invalid(field, want, raw)
	}
	r.Enter('[')
	for i := 0; r.More(']'); i++ {
		if r.Kind() != '"' {
			return invalid(item(field, i), "a string", r.Raw())
		}
		r.Skip()
	}
	return nil
}

// checkOpenAIChat checks the shape of a top-level Chat Completions member
// that a converter reads (tools and messages are checked as they are
// converted).
func checkOpenAIChat(key string, raw []byte) error {
	switch key {
	case "max_tokens", "max_completion_tokens", "temperature", "top_p":
		return checkNumber(key, raw)
	case "stream", "parallel_tool_calls":
		return checkBool(key, raw)
	case "stop":
		return checkStrings(key, raw, true)
	case "stream_options":
		if !absent(raw) && raw[0] != '{' {
			return invalid(key, "an object", raw)
		}
	case "user", "safety_identifier", "reasoning_effort":
		if !absent(raw) && !rawString(raw) {
			return invalid(key, "a string", raw)
		}
	case "tool_choice":
		return checkOpenAIToolChoice(raw)
	}
	return nil
}

// checkOpenAIToolChoice checks tool_choice: "none", "auto", "required", or
// an object with a type; a function choice names the function.
func checkOpenAIToolChoice(raw []byte) error {
	if absent(raw) {
		return nil
	}
	const want = `"none", "auto", "required" or an object such as {"type":"function","function":{"name":"f"}}`
	switch raw[0] {
	case '"':
		switch string(raw) {
		case `"none"`, `"auto"`, `"required"`:
			return nil
		}
		return mustBe("tool_choice", want)
	case '{':
		tc := jsonbytes.Parse(raw)
		typ := tc.Get("type")
		switch {
		case !typ.IsString():
			return mustBe("tool_choice.type", `a string such as "function"`)
		case typ.Str() == "function" && !tc.Get("function.name").IsString():
			return mustBe("tool_choice.function.name", "the name of a function (a string)")
		}
		return nil
	}
	return invalid("tool_choice", want, raw)
}

// readOpenAITool reads tools[i] of a Chat Completions request, checking
// its shape. Only function tools are checked further: the converters drop
// or refuse the other types.
func readOpenAITool(r *jsonbytes.Reader, i int) (tool, error) {
	a := at{name: "tools"}.item(i)
	if r.Kind() != '{' {
		return tool{}, invalid(a.String(), "a tool object", r.Raw())
	}
	t := readTool(r)
	switch {
	case t.typ == nil:
		return t, mustBe(a.String()+".type", `a string such as "function"`)
	case string(t.typ) != `"function"`:
	case t.badFunction != nil:
		return t, invalid(a.String()+".function", "an object", t.badFunction)
	case t.name == nil:
		return t, missing(a.String()+".function.name", "the name of the function")
	case !rawNonEmptyString(t.name):
		return t, invalid(a.String()+".function.name", "a non-empty string", t.name)
	case t.desc != nil && !rawString(t.desc):
		return t, invalid(a.String()+".function.description", "a string", t.desc)
	case t.params != nil && t.params[0] != '{':
		return t, invalid(a.String()+".function.parameters", "a JSON schema object", t.params)
	}
	return t, nil
}

// checkOpenAIMessage checks the members of messages[i] (field) that every
// role shares: content is a string, an array of part objects or null;
// tool_calls an array of objects.
func checkOpenAIMessage(msg at, content, calls []byte) error {
	if err := checkObjects(msg, "content", content, "a string or an array of content parts", "a content part object", true); err != nil {
		return err
	}
	return checkObjects(msg, "tool_calls", calls, "an array of tool calls", "a tool call object", false)
}

// checkObjects refuses the member of msg that is present and not an
// array of objects (or, with orString, a string).
func checkObjects(msg at, member string, raw []byte, want, wantItem string, orString bool) error {
	if absent(raw) || orString && rawString(raw) {
		return nil
	}
	r := jsonbytes.NewReader(raw)
	if r.Kind() != '[' {
		return invalid(msg.String()+"."+member, want, raw)
	}
	r.Enter('[')
	for i := 0; r.More(']'); i++ {
		if r.Kind() != '{' {
			msg.member = member
			return invalid(msg.item(i).String(), wantItem, r.Raw())
		}
		r.Skip()
	}
	return nil
}
