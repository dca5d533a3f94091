package convert

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/sse"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

func init() {
	register(AnthropicMessages, OpenAIChat, func() Translator { return &anthropicToOpenAI{} })
}

// anthropicToOpenAI serves an Anthropic Messages client from an OpenAI Chat
// Completions upstream (docs/protocol-mapping.md#anthropic-to-openai).
type anthropicToOpenAI struct {
	names             toolNames
	usage             Usage
	scratch, scratch2 []byte // reused while converting

	// Stream state.
	sseOut
	parser    sse.Parser
	id, model []byte    // from the first chunk that has them
	started   bool      // message_start was sent
	block     blockKind // kind of the open content block
	index     int       // Anthropic index of the open block
	tool      int64     // OpenAI index of the open tool block
	toolsSeen []int64   // OpenAI indexes of tool blocks started
	seen      []byte    // the last chunk's bytes before "choices"
	calls     []toolCall
	finish    string // Anthropic stop_reason, once known
	haveUsage bool
}

type blockKind uint8

const (
	noBlock blockKind = iota
	textBlock
	thinkingBlock
	toolBlock
)

var (
	errNotJSONObject = errors.New("convert: body is not a JSON object")
	errMalformed     = errors.New("convert: body is not well-formed JSON")
)

// Request converts a Messages request into a Chat Completions request. It
// reads the body once, converting messages and tools as it meets them.
func (t *anthropicToOpenAI) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	var maxTokens, stop, temperature, topP, userID, toolChoice, thinking []byte
	system, _ := req.Get("system") // the first message, wherever it is
	stream, sawMessages, hasTools := false, false, false
	// Messages are converted straight into the output; the other fields
	// are appended after them (key order does not matter in JSON).
	var ow jsonbytes.ObjectWriter
	b := ow.Open(slices.Grow(dst, outputSize(req)), ed)
	var err error
	for i := 0; i < len(req.Members) && err == nil; i++ {
		r := jsonbytes.NewReader(req.Members[i].Value)
		switch req.Members[i].Key {
		case "model":
			b = ow.Member(b, "model", r.Raw())
		case "messages":
			if sawMessages {
				return nil, errors.New("convert: anthropic request has two messages arrays")
			}
			sawMessages = true
			if r.Kind() != '[' {
				err = invalid("messages", "an array of messages", r.Raw())
				break
			}
			r.Enter('[')
			b = append(ow.Key(b, "messages"), '[')
			msgStart := len(b)
			b, err = appendSystemMessage(b, system)
			for i := 0; err == nil && r.More(']'); i++ {
				b, err = t.message(&r, b, msgStart, i)
			}
			b = ow.End(append(b, ']'))
		case "max_tokens":
			maxTokens = r.Raw()
			err = checkNumber("max_tokens", maxTokens)
		case "stop_sequences":
			stop = r.Raw()
			err = checkStrings("stop_sequences", stop, false)
		case "temperature":
			temperature = r.Raw()
			err = checkNumber("temperature", temperature)
		case "top_p":
			topP = r.Raw()
			err = checkNumber("top_p", topP)
		case "stream":
			v := r.Raw()
			stream, err = isTrue(v), checkBool("stream", v)
		case "metadata":
			userID, err = anthropicUserID(&r)
		case "tools":
			b, err = t.tools(&r, append(ow.Key(b, "tools"), '['))
			b, hasTools = endToolsMember(&ow, b)
		case "tool_choice":
			toolChoice = r.Raw()
			err = checkAnthropicToolChoice(toolChoice)
		case "thinking":
			thinking = r.Raw()
			if !absent(thinking) && thinking[0] != '{' {
				err = invalid("thinking", "an object", thinking)
			}
		}
		if r.Bad() {
			return nil, errMalformed
		}
	}
	if err != nil {
		return nil, err
	}
	if !sawMessages {
		return nil, errors.New("convert: anthropic request has no messages array")
	}
	if isNumber(maxTokens) {
		b = ow.Member(b, "max_completion_tokens", maxTokens)
	}
	if len(stop) > 0 && stop[0] == '[' {
		b = ow.Member(b, "stop", stop)
	}
	if isNumber(temperature) {
		b = ow.Member(b, "temperature", temperature)
	}
	if isNumber(topP) {
		b = ow.Member(b, "top_p", topP)
	}
	if stream {
		// include_usage is what gives message_delta its token counts.
		b = ow.Member(b, "stream", []byte("true"))
		b = ow.Member(b, "stream_options", []byte(`{"include_usage":true}`))
	}
	if rawString(userID) {
		b = ow.Member(b, "user", userID)
	}
	if hasTools {
		if tc := jsonbytes.Parse(toolChoice); tc.IsObject() {
			switch tc.Get("type").Str() {
			case "auto":
				b = ow.Member(b, "tool_choice", []byte(`"auto"`))
			case "any":
				b = ow.Member(b, "tool_choice", []byte(`"required"`))
			case "none":
				b = ow.Member(b, "tool_choice", []byte(`"none"`))
			case "tool":
				b = append(ow.Key(b, "tool_choice"), `{"type":"function","function":{"name":`...)
				b = jsonbytes.AppendString(b, t.names.sanitize(tc.Get("name").String()))
				b = ow.End(append(b, "}}"...))
			}
			if tc.Get("disable_parallel_tool_use").Bool() {
				b = ow.Member(b, "parallel_tool_calls", []byte("false"))
			}
		}
	}
	if effort := reasoningEffort(jsonbytes.Parse(thinking)); effort != "" {
		b = append(ow.Key(b, "reasoning_effort"), '"')
		b = ow.End(append(append(b, effort...), '"'))
	}
	return ow.Close(b)
}

// appendSystemMessage writes Anthropic's system prompt (a string or text
// blocks) as one system message. Blocks are joined without a separator,
// like Envoy and APISIX: they are one prompt cut for cache_control, which
// OpenAI lacks.
func appendSystemMessage(b, system []byte) ([]byte, error) {
	if rawString(system) {
		if len(system) > 2 {
			b = append(b, `{"role":"system","content":`...)
			b = append(b, system...)
			b = append(b, '}')
		}
		return b, nil
	}
	if absent(system) {
		return b, nil
	}
	r := jsonbytes.NewReader(system)
	if r.Kind() != '[' {
		return b, invalid("system", "a string or an array of text blocks", system)
	}
	r.Enter('[')
	mark := len(b)
	b = append(b, `{"role":"system","content":"`...)
	start := len(b)
	for i := 0; r.More(']'); i++ {
		blk, err := readContentBlock(&r, at{name: "system"}.item(i))
		if err == nil && blk.typ != `"text"` {
			err = mustBe(item("system", i)+".type", `"text"`)
		}
		if err != nil {
			return b[:mark], err
		}
		b = append(b, inner(blk.text)...)
	}
	if len(b) == start {
		return b[:mark], nil
	}
	return append(b, `"}`...), nil
}

// anthropicUserID reads metadata, an object whose user_id, a string, is
// the only member converted.
func anthropicUserID(r *jsonbytes.Reader) ([]byte, error) {
	if k := r.Kind(); k != '{' {
		v := r.Raw()
		if absent(v) {
			return nil, nil
		}
		return nil, invalid("metadata", "an object", v)
	}
	r.Enter('{')
	var userID []byte
	for r.More('}') {
		if string(r.Key()) != "user_id" {
			r.Skip()
			continue
		}
		if userID = r.Raw(); !absent(userID) && !rawString(userID) {
			return nil, invalid("metadata.user_id", "a string", userID)
		}
	}
	return userID, nil
}

// checkAnthropicToolChoice checks tool_choice: an object whose type is
// auto, any, none or tool, the last with the tool's name.
func checkAnthropicToolChoice(raw []byte) error {
	if absent(raw) {
		return nil
	}
	if raw[0] != '{' {
		return invalid("tool_choice", `an object such as {"type":"auto"}`, raw)
	}
	tc := jsonbytes.Parse(raw)
	switch typ := tc.Get("type"); typ.Str() {
	case "auto", "any", "none":
	case "tool":
		if !tc.Get("name").IsString() {
			return mustBe("tool_choice.name", "the name of a tool (a string) when tool_choice.type is \"tool\"")
		}
	default:
		return mustBe("tool_choice.type", `"auto", "any", "tool" or "none"`)
	}
	return nil
}

// tools converts the tools array into OpenAI function tools (without the
// brackets). Server tools (web_search_*, bash_*, …) run at Anthropic and
// have nothing to call upstream: they are dropped. A tool of the wrong
// shape is an error: an answer made without it would look like a success.
func (t *anthropicToOpenAI) tools(r *jsonbytes.Reader, b []byte) ([]byte, error) {
	start := len(b)
	if k := r.Kind(); k != '[' {
		v := r.Raw()
		if absent(v) {
			return b, nil
		}
		return b, invalid("tools", "an array of tool objects", v)
	}
	r.Enter('[')
	for i := 0; r.More(']'); i++ {
		var typ, name, desc, schema, strict []byte
		if r.Kind() != '{' {
			return b, invalid(item("tools", i), "a tool object", r.Raw())
		}
		r.Enter('{')
		for r.More('}') {
			switch string(r.Key()) {
			case "type":
				typ = r.Raw()
			case "name":
				name = r.Raw()
			case "description":
				desc = r.Raw()
			case "input_schema":
				schema = r.Raw()
			case "strict":
				strict = r.Raw()
			default:
				r.Skip()
			}
		}
		switch {
		case typ != nil && !rawString(typ):
			return b, invalid(item("tools", i)+".type", "a string", typ)
		case typ != nil && string(typ) != `"custom"`:
			continue
		case name == nil:
			return b, missing(item("tools", i)+".name", "the name of the tool")
		case !rawNonEmptyString(name):
			return b, invalid(item("tools", i)+".name", "a non-empty string", name)
		case desc != nil && !rawString(desc):
			return b, invalid(item("tools", i)+".description", "a string", desc)
		case schema != nil && schema[0] != '{':
			return b, invalid(item("tools", i)+".input_schema", "a JSON schema object", schema)
		}
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, `{"type":"function","function":{"name":`...)
		b = jsonbytes.AppendString(b, t.names.sanitize(jsonbytes.Unquote(name)))
		if desc != nil {
			b = append(b, `,"description":`...)
			b = append(b, desc...)
		}
		b = append(b, `,"parameters":`...)
		b = appendRawOr(b, schema, `{"type":"object","properties":{}}`)
		if string(strict) == "true" || string(strict) == "false" {
			b = append(b, `,"strict":`...)
			b = append(b, strict...)
		}
		b = append(b, "}}"...)
	}
	return b, nil
}

// reasoningEffort maps Anthropic's thinking budget to OpenAI's effort
// levels. The thresholds are this gateway's choice (implementations differ):
// under 4k tokens is low, under 16k medium, above high.
func reasoningEffort(thinking jsonbytes.Value) string {
	switch thinking.Get("type").Str() {
	case "enabled":
		switch budget := thinking.Get("budget_tokens").Int(); {
		case budget < 4096:
			return "low"
		case budget < 16384:
			return "medium"
		default:
			return "high"
		}
	case "adaptive":
		return "medium"
	}
	return ""
}

// block holds the raw fields of one Anthropic content block. typ is raw
// too: `"text"`, with its quotes.
type block struct {
	typ                                                         string
	text, id, name, input, toolUseID, content, source, thinking []byte
}

// readBlock reads one content block object; anything else reads as a
// block without fields.
func readBlock(r *jsonbytes.Reader) block {
	var blk block
	if !r.Enter('{') {
		return blk
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "type":
			blk.typ = jsonbytes.StringView(r.Str())
		case "text":
			blk.text = r.Str()
		case "id":
			blk.id = r.Raw()
		case "name":
			blk.name = r.Str()
		case "input":
			blk.input = r.Raw()
		case "tool_use_id":
			blk.toolUseID = r.Raw()
		case "content":
			blk.content = r.Raw()
		case "source":
			blk.source = r.Raw()
		case "thinking":
			blk.thinking = r.Str()
		default:
			r.Skip()
		}
	}
	return blk
}

// readContentBlock reads a request's content block (field names it in
// errors), checking the members its type needs. Types the conversion
// drops (thinking, server tool blocks) are not checked.
func readContentBlock(r *jsonbytes.Reader, a at) (block, error) {
	if r.Kind() != '{' {
		return block{}, invalid(a.String(), "a content block object", r.Raw())
	}
	blk := readBlock(r)
	switch blk.typ {
	case "":
		return blk, mustBe(a.String()+".type", `a string such as "text"`)
	case `"text"`:
		if blk.text == nil {
			return blk, mustBe(a.String()+".text", "a string")
		}
	case `"tool_use"`:
		switch {
		case !rawString(blk.id):
			return blk, mustBe(a.String()+".id", "a string")
		case blk.name == nil:
			return blk, mustBe(a.String()+".name", "a string")
		case len(blk.input) == 0 || blk.input[0] != '{':
			return blk, mustBe(a.String()+".input", "an object")
		}
	case `"tool_result"`:
		switch c := blk.content; {
		case !rawString(blk.toolUseID):
			return blk, mustBe(a.String()+".tool_use_id", "a string")
		case !absent(c) && c[0] != '"' && c[0] != '[':
			return blk, invalid(a.String()+".content", "a string or an array of content blocks", c)
		}
	case `"image"`, `"document"`:
		if len(blk.source) == 0 || blk.source[0] != '{' {
			return blk, mustBe(a.String()+".source", "an object")
		}
	}
	return blk, nil
}

// message converts one Anthropic message, appending to b (comma-separated
// OpenAI messages). A user turn becomes its tool results, as role "tool"
// messages that must directly follow the assistant's tool calls, then a
// user message with the rest; an assistant turn becomes one message with
// text and tool_calls.
func (t *anthropicToOpenAI) message(r *jsonbytes.Reader, b []byte, start, i int) ([]byte, error) {
	msg := at{name: "messages"}.item(i)
	if r.Kind() != '{' {
		return b, invalid(msg.String(), "a message object", r.Raw())
	}
	r.Enter('{')
	var role, content []byte
	done := false
	var err error
	for r.More('}') {
		switch string(r.Key()) {
		case "role":
			role = r.Str()
		case "content":
			if role == nil { // rare: read it again once the role is known
				content = r.Raw()
				continue
			}
			if b, err = t.content(r, role, b, start, msg); err != nil {
				return b, err
			}
			done = true
		default:
			r.Skip()
		}
	}
	if !done {
		if content == nil {
			return b, missing(msg.String()+".content", "a string or an array of content blocks")
		}
		cr := jsonbytes.NewReader(content)
		return t.content(&cr, role, b, start, msg)
	}
	return b, nil
}

// content converts a message's content, read from r.
func (t *anthropicToOpenAI) content(r *jsonbytes.Reader, role, b []byte, start int, msg at) ([]byte, error) {
	user := string(role) == `"user"`
	if !user && string(role) != `"assistant"` {
		return b, errors.New(msg.String() + `.role must be "user" or "assistant", got ` + cmp.Or(string(role), "none"))
	}
	if r.Kind() == '"' {
		b = appendSep(b, start)
		b = append(b, `{"role":`...)
		b = append(b, role...)
		b = append(b, `,"content":`...)
		b = append(b, r.Str()...)
		return append(b, '}'), nil
	}
	if r.Kind() != '[' {
		return b, invalid(msg.String()+".content", "a string or an array of content blocks", r.Raw())
	}
	r.Enter('[')
	if user {
		return t.userTurn(r, b, start, msg)
	}

	// Assistant: joined text and tool calls. Thinking blocks are dropped:
	// OpenAI upstreams reject them.
	texts := t.scratch[:0]
	calls := t.scratch2[:0]
	nText := 0
	for i := 0; r.More(']'); i++ {
		blk, err := readContentBlock(r, msg.item(i))
		if err != nil {
			return b, err
		}
		switch blk.typ {
		case `"text"`:
			texts, nText = appendLine(texts, nText, blk.text)
		case `"tool_use"`:
			if len(calls) > 0 {
				calls = append(calls, ',')
			}
			calls = append(calls, `{"id":`...)
			calls = appendAsString(calls, blk.id)
			calls = append(calls, `,"type":"function","function":{"name":`...)
			calls = jsonbytes.AppendString(calls, t.names.sanitize(jsonbytes.Unquote(blk.name)))
			calls = append(calls, `,"arguments":`...)
			calls = appendJSONAsString(calls, blk.input)
			calls = append(calls, "}}"...)
		}
	}
	t.scratch, t.scratch2 = texts, calls
	if nText == 0 && len(calls) == 0 {
		return b, nil // nothing OpenAI can take
	}
	b = appendSep(b, start)
	b = append(b, `{"role":"assistant","content":`...)
	if nText > 0 {
		b = append(b, '"')
		b = append(b, texts...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	if len(calls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		b = append(b, calls...)
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// userTurn converts a user turn's blocks: tool results go out at once as
// tool messages; text and media are gathered for one user message after
// them, as a plain string when there is only text.
func (t *anthropicToOpenAI) userTurn(cr *jsonbytes.Reader, b []byte, start int, msg at) ([]byte, error) {
	texts := t.scratch[:0]  // joined text, for a string content
	parts := t.scratch2[:0] // parts, for an array content
	nText, media := 0, false
	addText := func(text []byte) {
		texts, nText = appendLine(texts, nText, text)
		parts = appendSep(parts, 0)
		parts = append(parts, `{"type":"text","text":`...)
		parts = appendAsString(parts, text)
		parts = append(parts, '}')
	}
	addMedia := func(blk block) {
		media = true
		parts = appendSep(parts, 0)
		if blk.typ == `"image"` {
			parts = appendImagePart(parts, blk.source)
		} else {
			parts = appendDocumentPart(parts, blk.source)
		}
	}
	for i := 0; cr.More(']'); i++ {
		blk, err := readContentBlock(cr, msg.item(i))
		if err != nil {
			return b, err
		}
		switch blk.typ {
		case `"tool_result"`:
			b = appendSep(b, start)
			b = append(b, `{"role":"tool","tool_call_id":`...)
			b = appendAsString(b, blk.toolUseID)
			b = append(b, `,"content":`...)
			switch {
			case rawString(blk.content):
				b = append(b, blk.content...)
			case len(blk.content) > 0 && blk.content[0] == '[':
				// Text joined; images a tool returned go to the user
				// message below: OpenAI tool messages hold text only.
				b = append(b, '"')
				rr := jsonbytes.NewReader(blk.content)
				rr.Enter('[')
				n := 0
				for j := 0; rr.More(']'); j++ {
					p, err := readContentBlock(&rr, msg.item(i).item(j))
					if err != nil {
						return b, err
					}
					switch p.typ {
					case `"text"`:
						b, n = appendLine(b, n, p.text)
					case `"image"`, `"document"`:
						addMedia(p)
					}
				}
				b = append(b, '"')
			default:
				b = append(b, `""`...)
			}
			b = append(b, '}')
		case `"text"`:
			addText(blk.text)
		case `"image"`, `"document"`:
			addMedia(blk)
		}
	}
	t.scratch, t.scratch2 = texts, parts
	if nText == 0 && !media {
		return b, nil
	}
	b = appendSep(b, start)
	b = append(b, `{"role":"user","content":`...)
	if media {
		b = append(b, '[')
		b = append(b, parts...)
		b = append(b, ']')
	} else {
		b = append(b, '"')
		b = append(b, texts...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// appendLine appends the text of the JSON string s to the joined text b,
// on a new line unless it is the first; n counts the lines so far.
func appendLine(b []byte, n int, s []byte) ([]byte, int) {
	if n > 0 {
		b = append(b, `\n`...)
	}
	return append(b, inner(s)...), n + 1
}

// source holds the raw fields of an Anthropic image or document source.
type source struct{ typ, mediaType, data, url []byte }

func readSource(raw []byte) source {
	var s source
	r := jsonbytes.NewReader(raw)
	if len(raw) == 0 || !r.Enter('{') {
		return s
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "type":
			s.typ = r.Str()
		case "media_type":
			s.mediaType = r.Str()
		case "data":
			s.data = r.Str()
		case "url":
			s.url = r.Str()
		default:
			r.Skip()
		}
	}
	return s
}

// appendImagePart writes an OpenAI image_url part for an Anthropic image
// source: base64 data becomes a data: URI.
func appendImagePart(b, raw []byte) []byte {
	src := readSource(raw)
	b = append(b, `{"type":"image_url","image_url":{"url":`...)
	if string(src.typ) == `"url"` {
		b = appendAsString(b, src.url)
	} else {
		b = append(b, `"data:`...)
		b = append(b, inner(src.mediaType)...)
		b = append(b, `;base64,`...)
		b = append(b, inner(src.data)...)
		b = append(b, '"')
	}
	return append(b, "}}"...)
}

// appendDocumentPart writes an Anthropic document as an OpenAI part: a
// base64 PDF as a file part, plain text as text, a URL as a text reference
// (Chat Completions cannot fetch files by URL).
func appendDocumentPart(b, raw []byte) []byte {
	src := readSource(raw)
	switch string(src.typ) {
	case `"base64"`:
		b = append(b, `{"type":"file","file":{"filename":"document.pdf","file_data":"data:`...)
		b = append(b, inner(src.mediaType)...)
		b = append(b, `;base64,`...)
		b = append(b, inner(src.data)...)
		return append(b, `"}}`...)
	case `"text"`:
		b = append(b, `{"type":"text","text":`...)
		b = appendAsString(b, src.data)
		return append(b, '}')
	default:
		b = append(b, `{"type":"text","text":"Document: `...)
		b = append(b, inner(src.url)...)
		return append(b, `"}`...)
	}
}

// Response converts a chat.completion into an Anthropic Message.
func (t *anthropicToOpenAI) Response(body []byte) ([]byte, error) {
	var c chatCompletion
	if err := c.read(body, 0, "message"); err != nil {
		return nil, err
	}
	if len(c.errObj) > 0 && c.errObj[0] == '{' {
		return nil, errors.New("convert: upstream returned an error in a 200 response: " + jsonbytes.Parse(c.errObj).Get("message").String())
	}
	if !c.hasChoice {
		return nil, errors.New("convert: upstream chat completion has no choices")
	}
	t.usage = openAIUsage(c.usage)

	b := make([]byte, 0, len(body)+128)
	b = append(b, `{"id":`...)
	b = appendRawOr(b, c.id, `"msg_gateway"`)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendRawOr(b, c.model, `""`)
	b = append(b, `,"content":[`...)
	start := len(b)
	if rawNonEmptyString(c.reasoning) {
		b = append(b, `{"type":"thinking","thinking":`...)
		b = append(b, c.reasoning...)
		b = append(b, `,"signature":""}`...)
	}
	switch {
	case rawNonEmptyString(c.content):
		b = appendSep(b, start)
		b = append(b, `{"type":"text","text":`...)
		b = append(b, c.content...)
		b = append(b, '}')
	case len(c.content) > 0 && c.content[0] == '[': // some providers return parts
		mark := len(b)
		b = appendSep(b, start)
		b = append(b, `{"type":"text","text":"`...)
		textStart := len(b)
		cr := jsonbytes.NewReader(c.content)
		cr.Enter('[')
		n := 0
		for cr.More(']') {
			if p := readBlock(&cr); p.typ == `"text"` {
				b, n = appendLine(b, n, p.text)
			}
		}
		if len(b) == textStart {
			b = b[:mark]
		} else {
			b = append(b, `"}`...)
		}
	case rawNonEmptyString(c.refusal):
		b = appendSep(b, start)
		b = append(b, `{"type":"text","text":`...)
		b = append(b, c.refusal...)
		b = append(b, '}')
	}
	for _, tc := range c.calls {
		b = appendSep(b, start)
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendAsString(b, tc.id)
		b = append(b, `,"name":`...)
		b = jsonbytes.AppendString(b, t.names.original(jsonbytes.Unquote(tc.name)))
		b = append(b, `,"input":`...)
		b = appendArgumentsObject(b, tc.args)
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStopReason(jsonbytes.Unquote(c.finish), len(c.calls) > 0)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, t.usage)
	return append(b, '}'), nil
}

// chatCompletion holds the raw fields of a chat.completion or
// chat.completion.chunk: the top level and choices[0]'s message (or delta),
// whose tool calls are read in place.
type chatCompletion struct {
	id, model, usage, errObj, finish []byte
	content, reasoning, refusal      []byte
	calls                            []toolCall
	hasChoice                        bool
	choicesAt                        int // offset of the "choices" member; 0 when there is none
}

// read reads a chat.completion, or a chunk when message is "delta", in one
// pass. start is 0, or the offset of a member of the top-level object: the
// members before it are not read. Of reasoning_content and reasoning (the
// name some servers use), the first that is not empty is kept. read keeps
// the storage of c.calls.
func (c *chatCompletion) read(body []byte, start int, message string) error {
	*c = chatCompletion{calls: c.calls[:0]}
	r := jsonbytes.NewReader(body)
	r.Seek(start)
	if start == 0 && !r.Enter('{') {
		return errNotJSONObject
	}
	for r.More('}') {
		at := r.Offset()
		switch string(r.Key()) {
		case "id":
			c.id = r.Raw()
		case "model":
			c.model = r.Raw()
		case "usage":
			c.usage = r.Raw()
		case "error":
			c.errObj = r.Raw()
		case "choices":
			c.choicesAt = at
			if !r.Enter('[') {
				continue
			}
			for r.More(']') {
				if c.hasChoice { // only choices[0] is used
					r.Skip()
					continue
				}
				c.hasChoice = true
				if !r.Enter('{') {
					continue
				}
				for r.More('}') {
					switch k := r.Key(); {
					case string(k) == "finish_reason":
						c.finish = r.Raw()
					case string(k) == message:
						if r.Enter('{') {
							c.readMessage(&r)
						}
					default:
						r.Skip()
					}
				}
			}
		default:
			r.Skip()
		}
	}
	if r.Bad() {
		return errMalformed
	}
	return nil
}

func (c *chatCompletion) readMessage(r *jsonbytes.Reader) {
	for r.More('}') {
		switch string(r.Key()) {
		case "content":
			c.content = r.Raw()
		case "reasoning_content", "reasoning":
			if v := r.Raw(); !rawNonEmptyString(c.reasoning) {
				c.reasoning = v
			}
		case "refusal":
			c.refusal = r.Raw()
		case "tool_calls":
			c.calls = c.calls[:0]
			if r.Enter('[') {
				for r.More(']') {
					c.calls = append(c.calls, readToolCall(r))
				}
			}
		default:
			r.Skip()
		}
	}
}

// toolCall holds the raw fields of an OpenAI tool call or tool-call delta.
type toolCall struct{ index, id, name, args []byte }

func readToolCall(r *jsonbytes.Reader) toolCall {
	var tc toolCall
	if !r.Enter('{') {
		return tc
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "index":
			tc.index = r.Raw()
		case "id":
			tc.id = r.Raw()
		case "function":
			if !r.Enter('{') {
				continue
			}
			for r.More('}') {
				switch string(r.Key()) {
				case "name":
					tc.name = r.Raw()
				case "arguments":
					tc.args = r.Raw()
				default:
					r.Skip()
				}
			}
		default:
			r.Skip()
		}
	}
	return tc
}

// anthropicStopReason maps an OpenAI finish_reason (§c.5). A "stop" that
// ends tool calls is reported as tool_use: agents loop on it, and some
// OpenAI-compatible servers say "stop" there.
func anthropicStopReason(finish string, tools bool) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	if tools {
		return "tool_use"
	}
	return "end_turn"
}

// appendAnthropicUsage writes u as Anthropic usage: input_tokens excludes
// cached tokens, which are reported on their own.
func appendAnthropicUsage(b []byte, u Usage) []byte {
	in := u.PromptTokens - u.CacheReadTokens - u.CacheCreationTokens
	if in < 0 {
		in = 0
	}
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, in)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.CacheCreationTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.CacheReadTokens)
	b = append(b, `,"output_tokens":`...)
	b = appendInt(b, u.CompletionTokens)
	return append(b, '}')
}

// appendArgumentsObject writes tool-call arguments (raw: a JSON string
// holding JSON) as an object. Anthropic needs an object: arguments that are
// not one (truncated at max_tokens, or empty) become {}.
func appendArgumentsObject(b, raw []byte) []byte {
	mark := len(b)
	if rawString(raw) {
		b = jsonbytes.AppendUnescaped(b, inner(raw))
	} else {
		b = append(b, raw...) // some servers send the object itself
	}
	v := b[mark:]
	r := jsonbytes.NewReader(v)
	if r.Kind() == '{' && jsonbytes.Valid(v) {
		return b
	}
	return append(b[:mark], "{}"...)
}

func (t *anthropicToOpenAI) Error(status int, body []byte) []byte {
	return toAnthropicError(status, body)
}

func (t *anthropicToOpenAI) Usage() Usage { return t.usage }

// Stream converts chat.completion.chunk events into Messages stream events
// (§c.4): message_start, then content_block_start/delta/stop per block,
// then message_delta with usage and message_stop, exactly once. The end is
// held back until both the finish reason and the usage are known, or the
// upstream ends ([DONE] or end of stream).
func (t *anthropicToOpenAI) Stream(chunk []byte, eos bool) ([]byte, error) {
	return t.feed(&t.parser, chunk, eos, t.event, t.cut)
}

// cut ends a stream that stopped without [DONE].
func (t *anthropicToOpenAI) cut() { t.end(false) }

func (t *anthropicToOpenAI) event(ev sse.Event) {
	data := ev.Data
	if t.done || len(data) == 0 {
		return
	}
	if data[0] != '{' {
		if string(data) == "[DONE]" {
			t.end(true)
		}
		return // empty or foreign frames are skipped
	}
	// OpenAI repeats the same id, object, created, model and
	// system_fingerprint at the head of every chunk. A chunk that starts
	// with the bytes the last one had before "choices" is read from there:
	// reading those members again would change nothing.
	start := 0
	if len(t.seen) > 0 && hasPrefix(data, t.seen) {
		start = len(t.seen)
	}
	c := chatCompletion{calls: t.calls}
	err := c.read(data, start, "delta")
	t.calls = c.calls
	if len(c.errObj) > 0 && c.errObj[0] != 'n' {
		typ, msg := upstreamError(data)
		if !isAnthropicErrorType(typ) {
			typ = "api_error"
		}
		t.fail(typ, msg)
		return
	}
	if err != nil {
		return // a malformed chunk is skipped whole
	}
	if start == 0 {
		t.seen = append(t.seen[:0], data[:c.choicesAt]...)
	}
	if len(t.id) == 0 && rawString(c.id) {
		t.id = append(t.id, c.id...)
	}
	if len(t.model) == 0 && rawString(c.model) {
		t.model = append(t.model, c.model...)
	}
	if len(c.usage) > 0 && c.usage[0] == '{' {
		t.usage = openAIUsage(c.usage)
		t.haveUsage = true
	}
	if rawNonEmptyString(c.reasoning) {
		t.delta(thinkingBlock, `{"type":"thinking","thinking":"","signature":""}`, `{"type":"thinking_delta","thinking":`, c.reasoning)
	}
	if rawNonEmptyString(c.content) {
		t.delta(textBlock, `{"type":"text","text":""}`, `{"type":"text_delta","text":`, c.content)
	}
	for _, tc := range c.calls {
		t.toolDelta(tc)
	}
	if rawNonEmptyString(c.finish) && t.finish == "" {
		t.start()
		t.finish = anthropicStopReason(jsonbytes.Unquote(c.finish), len(t.toolsSeen) > 0)
	}
	if t.finish != "" && t.haveUsage {
		t.end(true)
	}
}

// start emits message_start once, before the first content or finish.
func (t *anthropicToOpenAI) start() {
	if t.started {
		return
	}
	t.started = true
	b := append(t.out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	b = appendRawOr(b, t.id, `"msg_gateway"`)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendRawOr(b, t.model, `""`)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := t.usage
	u.CompletionTokens = 0 // only the input is known at this point
	b = appendAnthropicUsage(b, u)
	t.out = append(b, "}}\n\n"...)
}

// open makes a block of kind the open block, closing the previous one.
func (t *anthropicToOpenAI) open(kind blockKind, startJSON string) {
	t.start()
	if t.block == kind && kind != toolBlock {
		return
	}
	t.closeBlock()
	t.block = kind
	b := append(t.out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	b = appendInt(b, int64(t.index))
	b = append(b, `,"content_block":`...)
	b = append(b, startJSON...)
	t.out = append(b, "}\n\n"...)
}

func (t *anthropicToOpenAI) closeBlock() {
	if t.block == noBlock {
		return
	}
	b := append(t.out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	b = appendInt(b, int64(t.index))
	t.out = append(b, "}\n\n"...)
	t.block = noBlock
	t.index++
}

// delta appends a content_block_delta whose payload is deltaPrefix + the
// raw JSON string s + "}", opening a block of kind first if needed.
func (t *anthropicToOpenAI) delta(kind blockKind, startJSON, deltaPrefix string, s []byte) {
	t.open(kind, startJSON)
	t.first = true
	b := append(t.out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	b = appendInt(b, int64(t.index))
	b = append(b, `,"delta":`...)
	b = append(b, deltaPrefix...)
	b = append(b, s...)
	t.out = append(b, "}}\n\n"...)
}

// toolDelta handles one element of delta.tool_calls. A call's first delta
// (a new index) opens a tool_use block; argument fragments become
// input_json_delta events. Anthropic blocks cannot interleave, so fragments
// for a call whose block was already closed are dropped; OpenAI sends calls
// one after another.
func (t *anthropicToOpenAI) toolDelta(tc toolCall) {
	idx := int64(len(t.toolsSeen))
	if isNumber(tc.index) {
		idx = jsonbytes.ParseInt(tc.index)
	} else if t.block == toolBlock {
		idx = t.tool
	}
	if t.block != toolBlock || idx != t.tool {
		for _, seen := range t.toolsSeen {
			if seen == idx {
				return
			}
		}
		t.toolsSeen = append(t.toolsSeen, idx)
		t.tool = idx
		t.first = true
		start := append(t.scratch[:0], `{"type":"tool_use","id":`...)
		if rawNonEmptyString(tc.id) {
			start = append(start, tc.id...)
		} else {
			start = append(start, `"toolu_gateway_`...)
			start = appendInt(start, idx)
			start = append(start, '"')
		}
		start = append(start, `,"name":`...)
		start = jsonbytes.AppendString(start, t.names.original(jsonbytes.Unquote(tc.name)))
		start = append(start, `,"input":{}}`...)
		t.scratch = start
		t.open(toolBlock, jsonbytes.StringView(start))
	}
	if rawNonEmptyString(tc.args) {
		t.first = true
		b := append(t.out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
		b = appendInt(b, int64(t.index))
		b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
		b = append(b, tc.args...)
		t.out = append(b, "}}\n\n"...)
	}
}

// end finishes the message. clean is false when the upstream stream just
// stopped (no [DONE]); without a finish reason that is a cut stream.
func (t *anthropicToOpenAI) end(clean bool) {
	if t.done {
		return
	}
	switch {
	case !t.started:
		t.failWith("api_error", "upstream stream ended without producing a message", ErrEmptyStream)
		return
	case t.finish == "" && !clean:
		t.fail("api_error", "upstream stream ended before the message was complete")
		return
	}
	t.closeBlock()
	finish := t.finish
	if finish == "" {
		finish = anthropicStopReason("", len(t.toolsSeen) > 0)
	}
	b := append(t.out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	b = append(b, finish...)
	b = append(b, `","stop_sequence":null},"usage":`...)
	b = appendAnthropicUsage(b, t.usage)
	b = append(b, "}\n\n"...)
	t.out = append(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	t.done = true
}

// fail ends the stream with an Anthropic error event.
func (t *anthropicToOpenAI) fail(typ, msg string) {
	t.failWith(typ, msg, &StreamError{Type: typ, Message: msg})
}

func (t *anthropicToOpenAI) failWith(typ, msg string, err error) {
	b := append(t.out, "event: error\ndata: "...)
	b = appendAnthropicError(b, typ, msg)
	t.out = append(b, "\n\n"...)
	t.done, t.err = true, err
}

// toolNames maps tool names OpenAI would reject (outside
// ^[a-zA-Z0-9_-]{1,64}$) to valid ones and back. Anthropic allows longer
// names and MCP clients use them.
type toolNames struct {
	renamed []string // pairs: valid name, original name
}

// sanitize returns name if OpenAI accepts it, else a stable rewrite:
// invalid bytes become '_', the result is cut to 55 bytes and suffixed
// with '_' and 8 hex digits of the name's SHA-256, so distinct names stay
// distinct. The pair is remembered for original.
func (n *toolNames) sanitize(name string) string {
	if validToolName(name) {
		return name
	}
	for i := 0; i+1 < len(n.renamed); i += 2 {
		if n.renamed[i+1] == name {
			return n.renamed[i]
		}
	}
	b := make([]byte, 0, 64)
	for i := 0; i < len(name) && len(b) < 55; i++ {
		if c := name[i]; isToolNameByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	sum := sha256.Sum256([]byte(name))
	b = append(b, '_')
	b = hex.AppendEncode(b, sum[:4])
	s := string(b)
	n.renamed = append(n.renamed, s, name)
	return s
}

// original undoes sanitize.
func (n *toolNames) original(name string) string {
	for i := 0; i+1 < len(n.renamed); i += 2 {
		if n.renamed[i] == name {
			return n.renamed[i+1]
		}
	}
	return name
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isToolNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isToolNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
