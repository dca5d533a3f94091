package convert

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/sse"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

func init() {
	register(OpenAIChat, AnthropicMessages, func() Translator { return &openAIToAnthropic{} })
}

// DefaultAnthropicMaxTokens is the max_tokens sent to Anthropic when the
// OpenAI client set no limit: Anthropic requires one, OpenAI does not.
const DefaultAnthropicMaxTokens = 4096

// unixNow gives the "created" time of chat completions; tests replace it.
var unixNow = func() int64 { return time.Now().Unix() }

// openAIToAnthropic serves an OpenAI Chat Completions client from the
// Anthropic Messages API (docs/protocol-mapping.md#openai-to-anthropic).
type openAIToAnthropic struct {
	includeUsage bool // the client asked for stream_options.include_usage
	counts       anthropicCounts

	// Stream state.
	sseOut
	parser     sse.Parser
	head       []byte // `data: ` and the chunk head, shared by every chunk
	started    bool
	toolBlock  bool  // the open Anthropic block is a tool_use
	tools      int64 // tool_use blocks so far: the OpenAI tool_calls index
	stopReason string
}

// Request converts a Chat Completions request into a Messages request. It
// reads the body once: system and developer messages go to "system",
// the others to "messages", as they are met.
func (t *openAIToAnthropic) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	var maxTokens, maxCompletion, stop, temperature, topP, user, effort, parallel, toolChoice []byte
	var system []byte
	stream, sawMessages, hasTools := false, false, false
	// Messages and tools are converted straight into the output; the other
	// fields are appended after them (key order does not matter in JSON).
	var ow jsonbytes.ObjectWriter
	b := ow.Open(slices.Grow(dst, outputSize(req)), ed)
	var err error
	for i := 0; i < len(req.Members) && err == nil; i++ {
		key := req.Members[i].Key
		r := jsonbytes.NewReader(req.Members[i].Value)
		switch key {
		case "model":
			b = ow.Member(b, "model", r.Raw())
		case "messages":
			if sawMessages {
				return nil, errors.New("convert: openai request has two messages arrays")
			}
			sawMessages = true
			if r.Kind() != '[' {
				err = invalid("messages", "an array of messages", r.Raw())
				break
			}
			r.Enter('[')
			b = append(ow.Key(b, "messages"), '[')
			w := anthropicTurns{b: b, start: len(b)}
			for i := 0; err == nil && r.More(']'); i++ {
				system, err = w.message(&r, system, i)
			}
			w.closeTools()
			b = ow.End(append(w.b, ']'))
		case "max_tokens":
			maxTokens = r.Raw()
			err = checkOpenAIChat("max_tokens", maxTokens)
		case "max_completion_tokens":
			maxCompletion = r.Raw()
			err = checkOpenAIChat("max_completion_tokens", maxCompletion)
		case "stop":
			stop = r.Raw()
			err = checkOpenAIChat("stop", stop)
		case "temperature":
			temperature = r.Raw()
			err = checkOpenAIChat("temperature", temperature)
		case "top_p":
			topP = r.Raw()
			err = checkOpenAIChat("top_p", topP)
		case "stream":
			v := r.Raw()
			stream, err = isTrue(v), checkOpenAIChat("stream", v)
		case "stream_options":
			v := r.Raw()
			t.includeUsage, err = jsonbytes.Parse(v).Get("include_usage").Bool(), checkOpenAIChat("stream_options", v)
		case "user", "safety_identifier":
			v := r.Raw()
			if rawNonEmptyString(v) {
				user = v
			}
			err = checkOpenAIChat(key, v)
		case "tools":
			b, err = openAITools(&r, append(ow.Key(b, "tools"), '['))
			b, hasTools = endToolsMember(&ow, b)
		case "tool_choice":
			toolChoice = r.Raw()
			err = checkOpenAIChat("tool_choice", toolChoice)
		case "parallel_tool_calls":
			parallel = r.Raw()
			err = checkOpenAIChat("parallel_tool_calls", parallel)
		case "reasoning_effort":
			effort = r.Raw()
			err = checkOpenAIChat("reasoning_effort", effort)
		}
		if r.Bad() {
			return nil, errMalformed
		}
	}
	if err != nil {
		return nil, err
	}
	if !sawMessages {
		return nil, errors.New("convert: openai request has no messages array")
	}

	limit := int64(DefaultAnthropicMaxTokens)
	if n, ok := parseLimit(maxCompletion); ok {
		limit = n
	} else if n, ok := parseLimit(maxTokens); ok {
		limit = n
	}
	b = ow.End(appendInt(ow.Key(b, "max_tokens"), limit))
	if len(system) > 0 {
		b = append(ow.Key(b, "system"), '[')
		b = ow.End(append(append(b, system...), ']'))
	}
	switch {
	case rawString(stop):
		b = append(ow.Key(b, "stop_sequences"), '[')
		b = ow.End(append(append(b, stop...), ']'))
	case len(stop) > 0 && stop[0] == '[':
		b = ow.Member(b, "stop_sequences", stop)
	}
	budget := thinkingBudget(jsonbytes.Unquote(effort))
	if budget >= limit {
		budget = 0 // Anthropic requires budget_tokens < max_tokens
	}
	if budget > 0 {
		// Extended thinking only allows the default sampling parameters.
		b = append(ow.Key(b, "thinking"), `{"type":"enabled","budget_tokens":`...)
		b = ow.End(append(appendInt(b, budget), '}'))
	} else {
		if isNumber(temperature) {
			// Anthropic's range is 0–1, OpenAI's 0–2: clamp.
			if f, _ := strconv.ParseFloat(jsonbytes.StringView(temperature), 64); f > 1 {
				temperature = []byte("1")
			}
			b = ow.Member(b, "temperature", temperature)
		}
		if isNumber(topP) {
			b = ow.Member(b, "top_p", topP)
		}
	}
	if stream {
		b = ow.Member(b, "stream", []byte("true"))
	}
	if user != nil {
		b = append(ow.Key(b, "metadata"), `{"user_id":`...)
		b = ow.End(append(append(b, user...), '}'))
	}
	if hasTools {
		noParallel := string(parallel) == "false"
		tc := jsonbytes.Parse(toolChoice)
		choice := "auto"
		var name jsonbytes.Value
		switch {
		case tc.IsString():
			switch tc.Str() {
			case "required":
				choice = "any"
			case "none":
				choice = "none"
			}
		case tc.IsObject():
			if name = tc.Get("function.name"); name.Exists() {
				choice = "tool"
			}
		}
		if tc.Exists() || noParallel {
			b = append(ow.Key(b, "tool_choice"), `{"type":"`...)
			b = append(b, choice...)
			b = append(b, '"')
			if choice == "tool" {
				b = append(b, `,"name":`...)
				b = appendStringValue(b, name)
			}
			if noParallel && choice != "none" {
				b = append(b, `,"disable_parallel_tool_use":true`...)
			}
			b = ow.End(append(b, '}'))
		}
	}
	return ow.Close(b)
}

// parseLimit reads an integer token limit; an absent one is not parsed,
// as strconv's error for it costs an allocation.
func parseLimit(raw []byte) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(jsonbytes.StringView(raw), 10, 64)
	return n, err == nil
}

// openAITools converts function tools to Anthropic tools (without the
// brackets). Custom tools have no Anthropic equivalent and are dropped.
func openAITools(r *jsonbytes.Reader, b []byte) ([]byte, error) {
	start := len(b)
	if r.Kind() != '[' {
		if v := r.Raw(); !absent(v) {
			return b, invalid("tools", "an array of tool objects", v)
		}
		return b, nil
	}
	r.Enter('[')
	for i := 0; r.More(']'); i++ {
		tool, err := readOpenAITool(r, i)
		if err != nil {
			return b, err
		}
		if string(tool.typ) != `"function"` {
			continue
		}
		b = appendSep(b, start)
		b = append(b, `{"name":`...)
		b = appendAsString(b, tool.name)
		if rawString(tool.desc) {
			b = append(b, `,"description":`...)
			b = append(b, tool.desc...)
		}
		b = append(b, `,"input_schema":`...)
		b = appendSchema(b, tool.params)
		if isTrue(tool.strict) {
			b = append(b, `,"strict":true`...)
		}
		b = append(b, '}')
	}
	return b, nil
}

// endToolsMember closes the "tools" array w opened, or takes the member
// back when no tool was written, and reports which.
func endToolsMember(w *jsonbytes.ObjectWriter, b []byte) ([]byte, bool) {
	if b[len(b)-1] == '[' {
		return w.Drop(b), false
	}
	return w.End(append(b, ']')), true
}

// tool holds the raw fields of an OpenAI tool; badFunction is a
// "function" member that is not an object.
type tool struct{ typ, name, desc, params, strict, badFunction []byte }

func readTool(r *jsonbytes.Reader) tool {
	var t tool
	if !r.Enter('{') {
		return t
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "type":
			t.typ = r.Str()
		case "function":
			if r.Kind() != '{' {
				t.badFunction = r.Raw()
				continue
			}
			r.Enter('{')
			for r.More('}') {
				switch string(r.Key()) {
				case "name":
					t.name = r.Raw()
				case "description":
					t.desc = r.Raw()
				case "parameters":
					t.params = r.Raw()
				case "strict":
					t.strict = r.Raw()
				default:
					r.Skip()
				}
			}
		default:
			r.Skip()
		}
	}
	return t
}

// appendSchema appends a function's parameters as a JSON schema; Anthropic
// and Converse require one, so a missing one is an empty object schema.
func appendSchema(b, params []byte) []byte {
	if len(params) > 0 && params[0] == '{' {
		return append(b, params...)
	}
	return append(b, `{"type":"object","properties":{}}`...)
}

// thinkingBudget maps OpenAI reasoning_effort to an Anthropic thinking
// budget; "" and "minimal"/"none" turn thinking off.
func thinkingBudget(effort string) int64 {
	switch effort {
	case "low":
		return 1024
	case "medium":
		return 4096
	case "high":
		return 16384
	}
	return 0
}

// anthropicTurns writes Anthropic messages from OpenAI ones. Consecutive
// tool messages become one user message of tool_result blocks, which
// Anthropic requires after a turn with parallel tool calls.
type anthropicTurns struct {
	b       []byte
	start   int  // where the messages start in b
	inTools bool // the last message written is an open user turn of tool results
}

func (w *anthropicTurns) open(role string) {
	w.closeTools()
	w.b = appendSep(w.b, w.start)
	w.b = append(w.b, `{"role":"`...)
	w.b = append(w.b, role...)
	w.b = append(w.b, `","content":[`...)
}

func (w *anthropicTurns) closeTools() {
	if w.inTools {
		w.b = append(w.b, "]}"...)
		w.inTools = false
	}
}

// message converts one OpenAI message. System and developer messages are
// appended to system (comma-separated text blocks), which is returned.
func (w *anthropicTurns) message(r *jsonbytes.Reader, system []byte, i int) ([]byte, error) {
	msg := at{name: "messages"}.item(i)
	if r.Kind() != '{' {
		return system, invalid(msg.String(), "a message object", r.Raw())
	}
	r.Enter('{')
	var role, content, calls, callID, name []byte
	for r.More('}') {
		switch string(r.Key()) {
		case "role":
			role = r.Str()
		case "content":
			content = r.Raw()
		case "tool_calls":
			calls = r.Raw()
		case "tool_call_id":
			callID = r.Raw()
		case "name":
			name = r.Raw()
		default:
			r.Skip()
		}
	}
	if err := checkOpenAIMessage(msg, content, calls); err != nil {
		return system, err
	}
	switch string(role) {
	case `"system"`, `"developer"`:
		return appendSystemBlock(system, content), nil
	case `"user"`:
		mark, inTools := len(w.b), w.inTools
		w.open("user")
		start := len(w.b)
		if err := w.parts(content); err != nil {
			return system, err
		}
		if len(w.b) == start { // empty content: Anthropic rejects it
			w.b, w.inTools = w.b[:mark], inTools
			return system, nil
		}
		w.b = append(w.b, "]}"...)
	case `"assistant"`:
		mark, inTools := len(w.b), w.inTools
		w.open("assistant")
		start := len(w.b)
		if rawNonEmptyString(content) {
			w.b = append(w.b, `{"type":"text","text":`...)
			w.b = append(w.b, content...)
			w.b = append(w.b, '}')
		} else if len(content) > 0 && content[0] == '[' {
			cr := jsonbytes.NewReader(content)
			cr.Enter('[')
			for cr.More(']') {
				p := readPart(&cr)
				text := p.text
				if string(p.typ) == `"refusal"` {
					text = p.refusal
				}
				if rawNonEmptyString(text) {
					w.b = appendSep(w.b, start)
					w.b = append(w.b, `{"type":"text","text":`...)
					w.b = append(w.b, text...)
					w.b = append(w.b, '}')
				}
			}
		}
		cr := jsonbytes.NewReader(calls)
		if len(calls) > 0 && cr.Enter('[') {
			for cr.More(']') {
				tc := readToolCall(&cr)
				w.b = appendSep(w.b, start)
				w.b = append(w.b, `{"type":"tool_use","id":`...)
				w.b = appendAsString(w.b, tc.id)
				w.b = append(w.b, `,"name":`...)
				w.b = appendAsString(w.b, tc.name)
				w.b = append(w.b, `,"input":`...)
				w.b = appendArgumentsObject(w.b, tc.args)
				w.b = append(w.b, '}')
			}
		}
		if len(w.b) == start { // no text, no calls: nothing to send
			w.b, w.inTools = w.b[:mark], inTools
			return system, nil
		}
		w.b = append(w.b, "]}"...)
	case `"tool"`, `"function"`:
		if !w.inTools {
			w.open("user")
			w.inTools = true
		} else {
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, `{"type":"tool_result","tool_use_id":`...)
		if string(role) == `"function"` {
			callID = name
		}
		w.b = appendAsString(w.b, callID)
		w.b = append(w.b, `,"content":`...)
		if len(content) > 0 && content[0] == '[' {
			w.b = append(w.b, '[')
			start := len(w.b)
			cr := jsonbytes.NewReader(content)
			cr.Enter('[')
			for cr.More(']') {
				if p := readPart(&cr); rawNonEmptyString(p.text) {
					w.b = appendSep(w.b, start)
					w.b = append(w.b, `{"type":"text","text":`...)
					w.b = append(w.b, p.text...)
					w.b = append(w.b, '}')
				}
			}
			w.b = append(w.b, ']')
		} else {
			w.b = appendAsString(w.b, content)
		}
		w.b = append(w.b, '}')
	default:
		return system, errors.New("convert: unsupported openai message role " + string(role))
	}
	return system, nil
}

// appendSystemBlock appends a system or developer message's content as one
// text block; parts are concatenated, and a cache_control on the first
// part is kept.
func appendSystemBlock(system, content []byte) []byte {
	mark := len(system)
	system = appendSep(system, 0)
	system = append(system, `{"type":"text","text":"`...)
	start := len(system)
	var cache []byte
	if rawString(content) {
		system = append(system, inner(content)...)
	} else if len(content) > 0 && content[0] == '[' {
		cr := jsonbytes.NewReader(content)
		cr.Enter('[')
		for i := 0; cr.More(']'); i++ {
			p := readPart(&cr)
			if i == 0 {
				cache = p.cacheControl
			}
			system = append(system, inner(p.text)...)
		}
	}
	if len(system) == start {
		return system[:mark] // Anthropic rejects empty text blocks
	}
	system = append(system, '"')
	if len(cache) > 0 && cache[0] == '{' {
		system = append(system, `,"cache_control":`...)
		system = append(system, cache...)
	}
	return append(system, '}')
}

// part holds the raw fields of an OpenAI content part; url and fileData
// are image_url.url and file.file_data.
type part struct{ typ, text, refusal, url, fileData, cacheControl []byte }

func readPart(r *jsonbytes.Reader) part {
	var p part
	if !r.Enter('{') {
		return p
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "type":
			p.typ = r.Str()
		case "text":
			p.text = r.Str()
		case "refusal":
			p.refusal = r.Str()
		case "cache_control":
			p.cacheControl = r.Raw()
		case "image_url":
			p.url = r.Member("url")
		case "file":
			p.fileData = r.Member("file_data")
		default:
			r.Skip()
		}
	}
	return p
}

// parts appends the Anthropic blocks for a user message's content.
func (w *anthropicTurns) parts(content []byte) error {
	if rawString(content) {
		if rawNonEmptyString(content) {
			w.b = append(w.b, `{"type":"text","text":`...)
			w.b = append(w.b, content...)
			w.b = append(w.b, '}')
		}
		return nil
	}
	if len(content) == 0 || content[0] != '[' {
		return nil
	}
	start := len(w.b)
	cr := jsonbytes.NewReader(content)
	cr.Enter('[')
	for cr.More(']') {
		p := readPart(&cr)
		var err error
		switch string(p.typ) {
		case `"text"`:
			if !rawNonEmptyString(p.text) {
				continue
			}
			w.b = appendSep(w.b, start)
			w.b = append(w.b, `{"type":"text","text":`...)
			w.b = append(w.b, p.text...)
			if len(p.cacheControl) > 0 && p.cacheControl[0] == '{' {
				w.b = append(w.b, `,"cache_control":`...)
				w.b = append(w.b, p.cacheControl...)
			}
			w.b = append(w.b, '}')
		case `"image_url"`:
			w.b = appendSep(w.b, start)
			w.b, err = appendMediaBlock(w.b, p.url)
		case `"file"`:
			if !rawString(p.fileData) {
				return errors.New("convert: file parts need file_data: Anthropic cannot read OpenAI file ids")
			}
			w.b = appendSep(w.b, start)
			w.b, err = appendMediaBlock(w.b, p.fileData)
		}
		// input_audio and other parts have no Anthropic equivalent.
		if err != nil {
			return err
		}
	}
	return nil
}

// appendMediaBlock writes an image or document block for an OpenAI image
// URL or file data (raw JSON strings): a data: URI becomes a base64 source
// (PDF as a document), an http(s) URL a url source. The base64 payload is
// copied as is, never decoded.
func appendMediaBlock(b, raw []byte) ([]byte, error) {
	url := inner(raw)
	if rest, ok := bytes.CutPrefix(url, []byte("data:")); ok {
		mediaType, data, ok := bytes.Cut(rest, []byte(";base64,"))
		if !ok {
			return b, errors.New("convert: data URI must be base64-encoded (data:<type>;base64,…)")
		}
		kind := "image"
		switch string(bytes.ReplaceAll(mediaType, []byte(`\/`), []byte("/"))) {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		case "application/pdf":
			kind = "document"
		default:
			return b, errors.New("convert: Anthropic accepts images as jpeg, png, gif or webp and documents as pdf, not " + string(mediaType))
		}
		b = append(b, `{"type":"`...)
		b = append(b, kind...)
		b = append(b, `","source":{"type":"base64","media_type":"`...)
		b = append(b, mediaType...)
		b = append(b, `","data":"`...)
		b = append(b, data...)
		return append(b, `"}}`...), nil
	}
	u := jsonbytes.Unquote(raw)
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return b, errors.New("convert: image URL must be http(s) or a data: URI")
	}
	kind := "image"
	if path, _, _ := strings.Cut(u, "?"); strings.HasSuffix(strings.ToLower(path), ".pdf") {
		kind = "document"
	}
	b = append(b, `{"type":"`...)
	b = append(b, kind...)
	b = append(b, `","source":{"type":"url","url":`...)
	b = append(b, raw...)
	return append(b, "}}"...), nil
}

// Response converts an Anthropic Message into a chat.completion.
func (t *openAIToAnthropic) Response(body []byte) ([]byte, error) {
	r := jsonbytes.NewReader(body)
	if !r.Enter('{') {
		return nil, errNotJSONObject
	}
	var id, model, stop, typ []byte
	var blocks []block
	for r.More('}') {
		switch string(r.Key()) {
		case "id":
			id = r.Raw()
		case "model":
			model = r.Raw()
		case "type":
			typ = r.Str()
		case "stop_reason":
			stop = r.Str()
		case "usage":
			t.counts.update(r.Raw())
		case "error":
			if v := r.Raw(); len(v) > 0 && v[0] == '{' {
				return nil, errors.New("convert: upstream returned an error in a 200 response: " + jsonbytes.Parse(v).Get("message").String())
			}
		case "content":
			if !r.Enter('[') {
				continue
			}
			for r.More(']') {
				blocks = append(blocks, readBlock(&r))
			}
		default:
			r.Skip()
		}
	}
	if r.Bad() {
		return nil, errMalformed
	}
	if string(typ) == `"error"` {
		return nil, errors.New("convert: upstream returned an error in a 200 response")
	}

	b := make([]byte, 0, len(body)+128)
	b = appendChatHead(b, "chat.completion", cmp.Or(jsonbytes.StringView(id), `"chatcmpl-gateway"`), cmp.Or(jsonbytes.StringView(model), `""`), unixNow())
	b = append(b, `{"index":0,"message":`...)
	b = appendChatMessage(b, blocks)
	b = append(b, `,"finish_reason":"`...)
	b = append(b, openAIFinishReason(jsonbytes.Unquote(stop))...)
	b = append(b, `","logprobs":null}],"usage":`...)
	b = appendChatUsage(b, t.counts.usage())
	return append(b, '}'), nil
}

// openAIFinishReason maps an Anthropic stop_reason (§c.5).
func openAIFinishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

func (t *openAIToAnthropic) Error(status int, body []byte) []byte {
	return toOpenAIError(status, body)
}

func (t *openAIToAnthropic) Usage() Usage { return t.counts.usage() }

// Stream converts Messages stream events into chat.completion.chunk
// events (§c.4): a role chunk at message_start, content, reasoning and
// tool-call deltas, a finish chunk at message_stop, the usage chunk when
// the client asked for it, then [DONE].
func (t *openAIToAnthropic) Stream(chunk []byte, eos bool) ([]byte, error) {
	return t.feed(&t.parser, chunk, eos, t.event, t.cut)
}

// cut ends a stream that stopped before message_stop.
func (t *openAIToAnthropic) cut() {
	switch {
	case !t.started:
		t.failWith("server_error", "upstream stream ended without producing a message", ErrEmptyStream)
	case t.stopReason != "":
		t.end() // message_delta arrived; only message_stop is missing
	default:
		t.fail("server_error", "upstream stream ended before the message was complete")
	}
}

// anthropicEvent holds the raw fields of one Messages stream event. id
// and model are message_start's; usage is message_start's or
// message_delta's.
type anthropicEvent struct {
	typ, deltaType, text, stopReason, contentBlock, id, model, usage []byte
}

// read reads an event in one pass; a malformed event reads as empty.
func (e *anthropicEvent) read(data []byte) {
	r := jsonbytes.NewReader(data)
	r.Enter('{')
	for r.More('}') {
		switch string(r.Key()) {
		case "type":
			e.typ = r.Str()
		case "delta":
			if !r.Enter('{') {
				continue
			}
			for r.More('}') {
				switch string(r.Key()) {
				case "type":
					e.deltaType = r.Str()
				case "text", "partial_json", "thinking":
					e.text = r.Raw()
				case "stop_reason":
					e.stopReason = r.Raw()
				default:
					r.Skip()
				}
			}
		case "content_block":
			e.contentBlock = r.Raw()
		case "message":
			if !r.Enter('{') {
				continue
			}
			for r.More('}') {
				switch string(r.Key()) {
				case "id":
					e.id = r.Raw()
				case "model":
					e.model = r.Raw()
				case "usage":
					e.usage = r.Raw()
				default:
					r.Skip()
				}
			}
		case "usage":
			e.usage = r.Raw()
		default:
			r.Skip()
		}
	}
	if r.Bad() {
		*e = anthropicEvent{}
	}
}

func (t *openAIToAnthropic) event(ev sse.Event) {
	if t.done || len(ev.Data) == 0 || ev.Data[0] != '{' {
		return
	}
	var e anthropicEvent
	e.read(ev.Data)
	name := inner(e.typ)
	if ev.Name != nil {
		name = ev.Name
	}
	switch string(name) {
	case "message_start":
		t.counts.update(e.usage)
		id, model := cmp.Or(jsonbytes.StringView(e.id), `"chatcmpl-gateway"`), cmp.Or(jsonbytes.StringView(e.model), `""`)
		t.head = append(make([]byte, 0, 80+len(id)+len(model)), "data: "...)
		t.head = appendChatHead(t.head, "chat.completion.chunk", id, model, unixNow())
		t.started = true
		t.out = appendDeltaChunk(t.out, t.head, `{"role":"assistant","content":""}`, nil, "")
	case "content_block_start":
		cr := jsonbytes.NewReader(e.contentBlock)
		blk := readBlock(&cr)
		t.toolBlock = blk.typ == `"tool_use"`
		if !t.started || !t.toolBlock {
			return
		}
		t.first = true
		t.out = appendToolCallChunk(t.out, t.head, t.tools, blk.id, blk.name)
		t.tools++
	case "content_block_delta":
		if !t.started || !rawNonEmptyString(e.text) {
			return
		}
		switch string(e.deltaType) {
		case `"text_delta"`:
			t.first = true
			t.out = appendDeltaChunk(t.out, t.head, `{"content":`, e.text, "}")
		case `"thinking_delta"`:
			t.first = true
			t.out = appendDeltaChunk(t.out, t.head, `{"reasoning_content":`, e.text, "}")
		case `"input_json_delta"`:
			if t.toolBlock {
				t.first = true
				t.out = appendArgumentsChunk(t.out, t.head, t.tools-1, e.text)
			}
		}
	case "content_block_stop":
		t.toolBlock = false
	case "message_delta":
		if rawString(e.stopReason) {
			t.stopReason = jsonbytes.Unquote(e.stopReason)
		}
		t.counts.update(e.usage)
	case "message_stop":
		if t.started {
			t.end()
		}
	case "error":
		typ, msg := upstreamError(ev.Data)
		t.fail(typ, msg)
	}
}

// end writes the finish chunk, the usage chunk if asked for, and [DONE].
func (t *openAIToAnthropic) end() {
	b := appendFinishChunk(t.out, t.head, openAIFinishReason(t.stopReason))
	if t.includeUsage {
		b = append(b, t.head...)
		b = append(b, `],"usage":`...)
		b = appendChatUsage(b, t.counts.usage())
		b = append(b, "}\n\n"...)
	}
	t.out = append(b, "data: [DONE]\n\n"...)
	t.done = true
}

// fail ends the stream with an OpenAI error event, the way OpenAI reports
// errors inside a stream (openai-python raises on it).
// anthropicType is the upstream's error type, rewritten into OpenAI's.
func (t *openAIToAnthropic) fail(anthropicType, msg string) {
	typ := "server_error"
	switch anthropicType {
	case "rate_limit_error", "invalid_request_error", "authentication_error", "permission_error":
		typ = anthropicType
	}
	t.failWith(typ, msg, &StreamError{Type: typ, Message: msg})
}

func (t *openAIToAnthropic) failWith(typ, msg string, err error) {
	b := append(t.out, "data: "...)
	b = appendOpenAIError(b, typ, msg, "")
	t.out = append(b, "\n\n"...)
	t.done, t.err = true, err
}
