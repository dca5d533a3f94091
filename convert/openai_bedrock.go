package convert

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
	"github.com/tidwall/gjson"
)

func init() {
	register(OpenAIChat, BedrockConverse, func() Translator {
		return &openAIToBedrock{
			id:      "chatcmpl-" + strconv.FormatUint(rand.Uint64(), 36),
			created: time.Now().Unix(),
		}
	})
}

// openAIToBedrock serves an OpenAI Chat Completions client from Bedrock
// Converse / ConverseStream (protocols.md d.5).
//
// Bedrock responses carry neither an id nor a model: the id is generated
// per exchange and the model is the one the client asked for.
type openAIToBedrock struct {
	id      string
	created int64
	model   string // the client's model, echoed in responses

	dec    eventstream.Decoder
	prefix []byte  // `data: {"id":…,"choices":[` shared by every chunk
	tools  []int64 // contentBlockIndex of each streamed tool call, by OpenAI index
	events int     // event messages received
	usage  Usage
	first  bool
	stop   bool // messageStop seen
	done   bool // the client stream is complete
}

// Request builds a ConverseRequest. The model is not written (it belongs
// in the path: BedrockModelPath); stream and the OpenAI-only options are
// dropped. Consecutive messages that end up with the same role are merged,
// because Converse requires user and assistant turns to alternate.
func (t *openAIToBedrock) Request(body []byte) ([]byte, error) {
	js := bstr(body)
	if !gjson.Valid(js) {
		return nil, errors.New("convert: bedrock: request body is not valid JSON")
	}
	req := readChatForConverse(gjson.Parse(js))
	t.model = req.model.String()
	msgs := req.messages
	if !msgs.IsArray() || len(msgs.Raw) < 3 {
		return nil, errors.New("convert: bedrock: messages must be a non-empty array")
	}

	turns := converseTurns{b: make([]byte, 0, len(body)+len(body)/8+128)}
	turns.b = append(turns.b, `{"messages":[`...)
	var system []byte
	var err error
	i := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		var role string
		var content, toolCalls, toolCallID gjson.Result
		m.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "role":
				role = v.Str
			case "content":
				content = v
			case "tool_calls":
				toolCalls = v
			case "tool_call_id":
				toolCallID = v
			}
			return true
		})
		switch role {
		case "system", "developer":
			system, err = appendSystemBlocks(system, content)
		case "user":
			err = turns.userContent(content)
		case "assistant":
			err = turns.assistant(content, toolCalls)
		case "tool":
			err = turns.toolResult(toolCallID, content)
		default:
			err = fmt.Errorf("role %q is not supported", role)
		}
		if err != nil {
			err = fmt.Errorf("convert: bedrock: messages[%d]: %w", i, err)
			return false
		}
		i++
		return true
	})
	if err != nil {
		return nil, err
	}
	if turns.role == "" {
		return nil, errors.New("convert: bedrock: no user or assistant message has content")
	}
	b := append(turns.b, "]}]"...)
	if system != nil {
		b = append(b, `,"system":[`...)
		b = append(b, system...)
		b = append(b, ']')
	}
	b = appendInferenceConfig(b, &req)
	if b, err = appendToolConfig(b, &req, turns.toolBlocks); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// chatForConverse holds the top-level fields of an OpenAI chat request that
// map to Converse, read in one pass (each gjson.Get of a missing key would
// scan the whole body).
type chatForConverse struct {
	model, messages, maxTokens, maxCompletionTokens, temperature, topP,
	stop, tools, toolChoice gjson.Result
}

func readChatForConverse(req gjson.Result) (r chatForConverse) {
	req.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			r.model = v
		case "messages":
			r.messages = v
		case "max_tokens":
			r.maxTokens = v
		case "max_completion_tokens":
			r.maxCompletionTokens = v
		case "temperature":
			r.temperature = v
		case "top_p":
			r.topP = v
		case "stop":
			r.stop = v
		case "tools":
			r.tools = v
		case "tool_choice":
			r.toolChoice = v
		}
		return true
	})
	return r
}

// converseTurns writes Converse messages, one content block at a time.
type converseTurns struct {
	b          []byte
	role       string // role of the open turn; "" before the first
	toolBlocks bool   // a toolUse or toolResult block was written
}

// block opens a content block for role: it continues the open turn when
// that has the same role and starts a new turn otherwise.
func (w *converseTurns) block(role string) {
	switch w.role {
	case role:
		w.b = append(w.b, ',')
		return
	case "":
		w.b = append(w.b, `{"role":"`...)
	default:
		w.b = append(w.b, `]},{"role":"`...)
	}
	w.b = append(w.b, role...)
	w.b = append(w.b, `","content":[`...)
	w.role = role
}

// text writes a text block; Converse rejects empty text, so "" is skipped.
func (w *converseTurns) text(role string, s gjson.Result) {
	if s.Str == "" {
		return
	}
	w.block(role)
	w.b = append(w.b, `{"text":`...)
	w.b = append(w.b, s.Raw...)
	w.b = append(w.b, '}')
}

func (w *converseTurns) userContent(content gjson.Result) error {
	if content.Type == gjson.String {
		w.text("user", content)
		return nil
	}
	if !content.IsArray() {
		return errors.New("user content must be a string or an array of parts")
	}
	var err error
	content.ForEach(func(_, part gjson.Result) bool {
		switch typ := part.Get("type").Str; typ {
		case "text":
			w.text("user", part.Get("text"))
		case "image_url":
			err = w.image(part.Get("image_url.url").Str)
		default:
			err = fmt.Errorf("content part type %q is not supported by Bedrock Converse", typ)
		}
		return err == nil
	})
	return err
}

// image writes an image block from a data URI. Converse takes image bytes
// only (it cannot fetch a URL) in four formats.
func (w *converseTurns) image(url string) error {
	meta, data, ok := strings.Cut(url, ",")
	if !ok || !strings.HasPrefix(meta, "data:") || !strings.HasSuffix(meta, ";base64") {
		return errors.New("image_url must be a base64 data: URI: Bedrock Converse cannot fetch image URLs")
	}
	var format string
	switch mime := meta[len("data:") : len(meta)-len(";base64")]; mime {
	case "image/png":
		format = "png"
	case "image/jpeg", "image/jpg":
		format = "jpeg"
	case "image/gif":
		format = "gif"
	case "image/webp":
		format = "webp"
	default:
		return fmt.Errorf("image type %q is not supported by Bedrock Converse (png, jpeg, gif, webp)", mime)
	}
	w.block("user")
	w.b = append(w.b, `{"image":{"format":"`...)
	w.b = append(w.b, format...)
	w.b = append(w.b, `","source":{"bytes":`...)
	w.b = appendString(w.b, data)
	w.b = append(w.b, "}}}"...)
	return nil
}

func (w *converseTurns) assistant(content, calls gjson.Result) error {
	switch {
	case content.Type == gjson.String:
		w.text("assistant", content)
	case content.IsArray():
		content.ForEach(func(_, part gjson.Result) bool {
			switch part.Get("type").Str {
			case "text":
				w.text("assistant", part.Get("text"))
			case "refusal":
				w.text("assistant", part.Get("refusal"))
			}
			return true
		})
	}
	var err error
	n := 0
	calls.ForEach(func(_, call gjson.Result) bool {
		var id, name, arguments gjson.Result
		call.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "id":
				id = v
			case "function":
				name, arguments = v.Get("name"), v.Get("arguments")
			}
			return true
		})
		if id.Type != gjson.String || name.Type != gjson.String {
			err = fmt.Errorf("tool_calls[%d] needs an id and a function.name", n)
			return false
		}
		args := strings.TrimSpace(arguments.Str)
		if args == "" {
			args = "{}"
		} else if !gjson.Valid(args) {
			err = fmt.Errorf("tool_calls[%d].function.arguments is not valid JSON; Converse needs a JSON input", n)
			return false
		}
		w.block("assistant")
		w.b = append(w.b, `{"toolUse":{"toolUseId":`...)
		w.b = append(w.b, id.Raw...)
		w.b = append(w.b, `,"name":`...)
		w.b = append(w.b, name.Raw...)
		w.b = append(w.b, `,"input":`...)
		w.b = append(w.b, args...)
		w.b = append(w.b, "}}"...)
		w.toolBlocks = true
		n++
		return true
	})
	return err
}

// toolResult writes a toolResult block into a user turn, so consecutive
// tool messages (and a user message after them) share one turn.
func (w *converseTurns) toolResult(id, content gjson.Result) error {
	if id.Type != gjson.String {
		return errors.New("tool message needs a tool_call_id")
	}
	w.block("user")
	w.b = append(w.b, `{"toolResult":{"toolUseId":`...)
	w.b = append(w.b, id.Raw...)
	w.b = append(w.b, `,"content":[`...)
	switch {
	case content.Type == gjson.String:
		w.b = append(w.b, `{"text":`...)
		w.b = append(w.b, content.Raw...)
		w.b = append(w.b, '}')
	case content.IsArray():
		n := 0
		content.ForEach(func(_, part gjson.Result) bool {
			if text := part.Get("text"); part.Get("type").Str == "text" && text.Type == gjson.String {
				if n > 0 {
					w.b = append(w.b, ',')
				}
				w.b = append(w.b, `{"text":`...)
				w.b = append(w.b, text.Raw...)
				w.b = append(w.b, '}')
				n++
			}
			return true
		})
	default:
		return errors.New("tool message content must be a string or an array of text parts")
	}
	w.b = append(w.b, "]}}"...)
	w.toolBlocks = true
	return nil
}

// appendSystemBlocks appends a system or developer message's text as
// comma-separated {"text":…} blocks.
func appendSystemBlocks(b []byte, content gjson.Result) ([]byte, error) {
	add := func(s gjson.Result) {
		if s.Str == "" {
			return
		}
		if b != nil {
			b = append(b, ',')
		}
		b = append(b, `{"text":`...)
		b = append(b, s.Raw...)
		b = append(b, '}')
	}
	switch {
	case content.Type == gjson.String:
		add(content)
	case content.IsArray():
		content.ForEach(func(_, part gjson.Result) bool {
			add(part.Get("text"))
			return true
		})
	default:
		return b, errors.New("system content must be a string or an array of text parts")
	}
	return b, nil
}

func appendInferenceConfig(b []byte, req *chatForConverse) []byte {
	n := 0
	field := func(name, raw string) {
		if n == 0 {
			b = append(b, `,"inferenceConfig":{`...)
		} else {
			b = append(b, ',')
		}
		b = append(append(b, name...), raw...)
		n++
	}
	maxTokens := req.maxCompletionTokens
	if maxTokens.Type != gjson.Number {
		maxTokens = req.maxTokens
	}
	if maxTokens.Type == gjson.Number {
		field(`"maxTokens":`, maxTokens.Raw)
	}
	if v := req.temperature; v.Type == gjson.Number {
		field(`"temperature":`, v.Raw)
	}
	if v := req.topP; v.Type == gjson.Number {
		field(`"topP":`, v.Raw)
	}
	switch stop := req.stop; {
	case stop.Type == gjson.String:
		field(`"stopSequences":[`, stop.Raw)
		b = append(b, ']')
	case stop.IsArray() && stop.Get("#").Int() > 0:
		field(`"stopSequences":`, stop.Raw)
	}
	if n > 0 {
		b = append(b, '}')
	}
	return b
}

// appendToolConfig writes toolConfig from tools and tool_choice. Converse
// has no "none": the tools are then left out, unless the conversation
// already holds toolUse/toolResult blocks, which need a toolConfig, in
// which case toolChoice is left out (the model chooses).
func appendToolConfig(b []byte, req *chatForConverse, toolBlocks bool) ([]byte, error) {
	tools := req.tools
	if !tools.IsArray() || len(tools.Raw) <= 2 {
		return b, nil
	}
	var choice string
	switch tc := req.toolChoice; {
	case !tc.Exists() || tc.Type == gjson.Null:
		// Converse's default is auto as well.
	case tc.Str == "auto":
		choice = `{"auto":{}}`
	case tc.Str == "required":
		choice = `{"any":{}}`
	case tc.Str == "none":
		if !toolBlocks {
			return b, nil
		}
	case tc.Get("function.name").Type == gjson.String:
		choice = `{"tool":{"name":` + tc.Get("function.name").Raw + `}}`
	default:
		return b, fmt.Errorf("convert: bedrock: tool_choice %s is not supported by Bedrock Converse", tc.Raw)
	}
	b = append(b, `,"toolConfig":{"tools":[`...)
	var err error
	n := 0
	tools.ForEach(func(_, tool gjson.Result) bool {
		fn := tool.Get("function")
		name := fn.Get("name")
		if typ := tool.Get("type").Str; typ != "function" || name.Type != gjson.String {
			err = fmt.Errorf("convert: bedrock: tools[%d]: only function tools with a name are supported (type %q)", n, typ)
			return false
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"toolSpec":{"name":`...)
		b = append(b, name.Raw...)
		if d := fn.Get("description"); d.Type == gjson.String {
			b = append(b, `,"description":`...)
			b = append(b, d.Raw...)
		}
		b = append(b, `,"inputSchema":{"json":`...)
		if p := fn.Get("parameters"); p.IsObject() {
			b = append(b, p.Raw...)
		} else {
			b = append(b, `{"type":"object","properties":{}}`...)
		}
		b = append(b, "}}}"...)
		n++
		return true
	})
	if err != nil {
		return b, err
	}
	b = append(b, ']')
	if choice != "" {
		b = append(b, `,"toolChoice":`...)
		b = append(b, choice...)
	}
	return append(b, '}'), nil
}

// Response builds a chat.completion from a ConverseResponse: all text
// blocks joined as content, toolUse blocks as tool_calls, reasoning text
// as reasoning_content.
func (t *openAIToBedrock) Response(body []byte) ([]byte, error) {
	js := bstr(body)
	if !gjson.Valid(js) {
		return nil, errors.New("convert: bedrock: Converse response is not valid JSON")
	}
	resp := gjson.Parse(js)
	t.usage.Merge(converseUsage(resp.Get("usage")))
	blocks := resp.Get("output.message.content")

	b := make([]byte, 0, len(body)+256)
	b = append(b, `{"id":`...)
	b = appendString(b, t.id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = appendInt(b, t.created)
	b = append(b, `,"model":`...)
	b = appendString(b, t.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendConverseText(b, blocks, "text")
	if strings.Contains(blocks.Raw, `"reasoningContent"`) {
		b = append(b, `,"reasoning_content":`...)
		b = appendConverseText(b, blocks, "reasoningContent.reasoningText.text")
	}
	n := 0
	blocks.ForEach(func(_, block gjson.Result) bool {
		use := block.Get("toolUse")
		if !use.Exists() {
			return true
		}
		if n == 0 {
			b = append(b, `,"tool_calls":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendStringValue(b, use.Get("toolUseId"))
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendStringValue(b, use.Get("name"))
		b = append(b, `,"arguments":`...)
		args := "{}"
		if in := use.Get("input|@ugly"); in.Exists() {
			args = in.Raw
		}
		b = appendString(b, args)
		b = append(b, "}}"...)
		n++
		return true
	})
	if n > 0 {
		b = append(b, ']')
	}
	b = append(b, `},"finish_reason":"`...)
	b = append(b, converseFinishReason(resp.Get("stopReason").Str)...)
	b = append(b, `"}],"usage":`...)
	b = appendOpenAIUsage(b, t.usage)
	return append(b, '}'), nil
}

// appendConverseText writes the strings at path in blocks as one JSON string,
// or null when there are none. A single string is copied as it is.
func appendConverseText(b []byte, blocks gjson.Result, path string) []byte {
	var first gjson.Result
	var joined []byte
	n := 0
	blocks.ForEach(func(_, block gjson.Result) bool {
		s := block.Get(path)
		if s.Type != gjson.String {
			return true
		}
		switch n {
		case 0:
			first = s
		case 1:
			joined = append(joined, first.Str...)
			fallthrough
		default:
			joined = append(joined, s.Str...)
		}
		n++
		return true
	})
	switch n {
	case 0:
		return append(b, "null"...)
	case 1:
		return append(b, first.Raw...)
	}
	return appendString(b, string(joined))
}

// converseFinishReason maps a Converse stopReason to an OpenAI
// finish_reason (protocols.md d.5).
func converseFinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "content_filtered", "guardrail_intervened":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, malformed_*
}

func appendOpenAIUsage(b []byte, u Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, u.PromptTokens)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.CompletionTokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, u.TotalTokens)
	if u.CacheReadTokens > 0 {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = appendInt(b, u.CacheReadTokens)
		b = append(b, '}')
	}
	return append(b, '}')
}

// Stream turns ConverseStream event-stream messages into chat.completion.chunk
// events: messageStart gives the role chunk, text deltas content chunks,
// a toolUse start the tool call's id and name and its deltas the argument
// fragments, messageStop the finish chunk, metadata a usage chunk with empty
// choices; the end of the stream adds "data: [DONE]". An exception from
// the upstream, broken framing or a stream that ends early ends the client
// stream with an OpenAI {"error":…} event, and Stream returns an error.
func (t *openAIToBedrock) Stream(chunk []byte, eos bool) ([]byte, error) {
	if t.done {
		return nil, nil
	}
	msgs, err := t.dec.Feed(chunk)
	var out []byte
	if len(msgs) > 0 {
		size := 0
		for i := range msgs {
			size += len(t.chunkPrefix()) + len(msgs[i].Payload) + 64
		}
		out = make([]byte, 0, size)
	}
	for i := range msgs {
		m := &msgs[i]
		if typ := m.Header(":message-type"); typ != "event" {
			code, msg := streamException(m)
			if msg == "" {
				msg = "Bedrock ended the stream with " + code
			}
			return t.fail(out, code, msg)
		}
		t.events++
		out = t.event(out, m.Header(":event-type"), gjson.Parse(bstr(m.Payload)))
	}
	switch {
	case err != nil:
		return t.fail(out, "", err.Error())
	case !eos:
		return out, nil
	case t.dec.Pending() > 0:
		return t.fail(out, "", "Bedrock stream ended inside an event-stream message")
	case t.events == 0:
		out, _ = t.fail(out, "", "Bedrock stream ended without any event")
		return out, ErrEmptyStream
	case !t.stop:
		return t.fail(out, "", "Bedrock stream ended before messageStop")
	}
	t.done = true
	return append(out, "data: [DONE]\n\n"...), nil
}

// event appends the chunks for one ConverseStream event.
func (t *openAIToBedrock) event(out []byte, typ string, p gjson.Result) []byte {
	switch typ {
	case "messageStart":
		return t.chunk(out, `{"role":"assistant","content":""}`, "")
	case "contentBlockStart":
		use := p.Get("start.toolUse")
		if !use.Exists() {
			return out
		}
		t.first = true
		t.tools = append(t.tools, p.Get("contentBlockIndex").Int())
		out = t.open(out)
		out = append(out, `{"tool_calls":[{"index":`...)
		out = appendInt(out, int64(len(t.tools)-1))
		out = append(out, `,"id":`...)
		out = appendStringValue(out, use.Get("toolUseId"))
		out = append(out, `,"type":"function","function":{"name":`...)
		out = appendStringValue(out, use.Get("name"))
		out = append(out, `,"arguments":""}}]}`...)
		return t.close(out, "")
	case "contentBlockDelta":
		d := p.Get("delta")
		if s := d.Get("text"); s.Type == gjson.String {
			t.first = true
			out = t.open(out)
			out = append(out, `{"content":`...)
			out = append(out, s.Raw...)
			return t.close(append(out, '}'), "")
		}
		if s := d.Get("toolUse.input"); s.Type == gjson.String && s.Str != "" {
			index := t.toolIndex(p.Get("contentBlockIndex").Int())
			if index < 0 {
				return out // no contentBlockStart named this tool: nothing to attach it to
			}
			out = t.open(out)
			out = append(out, `{"tool_calls":[{"index":`...)
			out = appendInt(out, int64(index))
			out = append(out, `,"function":{"arguments":`...)
			out = append(out, s.Raw...)
			return t.close(append(out, "}}]}"...), "")
		}
		if s := d.Get("reasoningContent.text"); s.Type == gjson.String {
			t.first = true
			out = t.open(out)
			out = append(out, `{"reasoning_content":`...)
			out = append(out, s.Raw...)
			return t.close(append(out, '}'), "")
		}
	case "messageStop":
		t.stop = true
		return t.chunk(out, "{}", converseFinishReason(p.Get("stopReason").Str))
	case "metadata":
		t.usage.Merge(converseUsage(p.Get("usage")))
		out = append(out, t.chunkPrefix()...)
		out = append(out, `],"usage":`...)
		out = appendOpenAIUsage(out, t.usage)
		return append(out, "}\n\n"...)
	}
	return out // contentBlockStop and events with nothing to say
}

func (t *openAIToBedrock) toolIndex(block int64) int {
	for i := len(t.tools) - 1; i >= 0; i-- {
		if t.tools[i] == block {
			return i
		}
	}
	return -1
}

// chunk appends a whole chunk event with one choice.
func (t *openAIToBedrock) chunk(out []byte, delta, finish string) []byte {
	out = append(t.open(out), delta...)
	return t.close(out, finish)
}

// open appends a chunk event up to its delta object.
func (t *openAIToBedrock) open(out []byte) []byte {
	out = append(out, t.chunkPrefix()...)
	return append(out, `{"index":0,"delta":`...)
}

// close ends the chunk event that open began.
func (t *openAIToBedrock) close(out []byte, finish string) []byte {
	if finish == "" {
		return append(out, `,"finish_reason":null}]}`+"\n\n"...)
	}
	out = append(out, `,"finish_reason":"`...)
	out = append(out, finish...)
	return append(out, "\"}]}\n\n"...)
}

func (t *openAIToBedrock) chunkPrefix() []byte {
	if t.prefix == nil {
		b := append([]byte(nil), `data: {"id":`...)
		b = appendString(b, t.id)
		b = append(b, `,"object":"chat.completion.chunk","created":`...)
		b = appendInt(b, t.created)
		b = append(b, `,"model":`...)
		b = appendString(b, t.model)
		t.prefix = append(b, `,"choices":[`...)
	}
	return t.prefix
}

// fail ends the client stream with an OpenAI error event and returns it
// with a *StreamError. code is the Bedrock exception type when the
// upstream sent one ("throttlingException"), else "".
func (t *openAIToBedrock) fail(out []byte, code, msg string) ([]byte, error) {
	t.done = true
	typ := "server_error"
	switch code {
	case "throttlingException", "serviceUnavailableException":
		typ = "rate_limit_error"
	case "validationException":
		typ = "invalid_request_error"
	}
	out = append(out, "data: "...)
	out = appendOpenAIError(out, typ, msg, code)
	out = append(out, "\n\n"...)
	return out, &StreamError{Type: typ, Message: msg}
}

// Error rewrites a Bedrock error body ({"message":…}; the exception name
// is in the x-amzn-ErrorType header, which the caller has) as an OpenAI
// error, typed by the status.
func (t *openAIToBedrock) Error(status int, body []byte) []byte {
	return toOpenAIError(status, body)
}

func (t *openAIToBedrock) StreamContentType() string { return "text/event-stream" }
func (t *openAIToBedrock) Usage() Usage              { return t.usage }
func (t *openAIToBedrock) FirstToken() bool          { return t.first }
