package convert

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
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
// Converse / ConverseStream (docs/protocol-mapping.md#openai-to-bedrock-converse).
//
// Bedrock responses carry neither an id nor a model: the id is generated
// per exchange and the model is the one the client asked for.
type openAIToBedrock struct {
	id      string
	created int64
	model   string // the client's model, echoed in responses

	sseOut
	dec    eventstream.Decoder
	head   []byte  // `data: ` and the chunk head, shared by every chunk
	tools  []int64 // contentBlockIndex of each streamed tool call, by OpenAI index
	events int     // event messages received
	usage  Usage
	stop   bool // messageStop seen
}

var (
	errBedrockRequestJSON = errors.New("convert: bedrock: request body is not valid JSON")
	errConverseJSON       = errors.New("convert: bedrock: Converse response is not valid JSON")
)

// Request builds a ConverseRequest, reading the body once. The model is
// not written (it belongs in the path: BedrockModelPath); stream and the
// OpenAI-only options are dropped. Consecutive messages that end up with
// the same role are merged, because Converse requires user and assistant
// turns to alternate.
func (t *openAIToBedrock) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	var maxTokens, maxCompletion, temperature, topP, stop, tools, toolChoice []byte
	// Messages are converted straight into the output; the other fields
	// are appended after them (key order does not matter in JSON).
	var w converseTurns
	var ow jsonbytes.ObjectWriter
	b := append(ow.Key(ow.Open(slices.Grow(dst, outputSize(req)), ed), "messages"), '[')
	n := -1 // messages read; -1 before the messages array
	var err error
	for i := range req.Members {
		r := jsonbytes.NewReader(req.Members[i].Value)
		switch req.Members[i].Key {
		case "model":
			t.model = strings.Clone(jsonbytes.Parse(r.Raw()).String())
		case "messages":
			if n >= 0 {
				return nil, errors.New("convert: bedrock: request has two messages arrays")
			}
			n = 0
			if !r.Enter('[') {
				continue
			}
			for ; r.More(']'); n++ {
				b, err = w.message(&r, b)
				if r.Bad() {
					return nil, errBedrockRequestJSON
				}
				if err != nil {
					return nil, fmt.Errorf("convert: bedrock: messages[%d]: %w", n, err)
				}
			}
		case "max_tokens":
			maxTokens = r.Raw()
			err = checkOpenAIChat("max_tokens", maxTokens)
		case "max_completion_tokens":
			maxCompletion = r.Raw()
			err = checkOpenAIChat("max_completion_tokens", maxCompletion)
		case "temperature":
			temperature = r.Raw()
			err = checkOpenAIChat("temperature", temperature)
		case "top_p":
			topP = r.Raw()
			err = checkOpenAIChat("top_p", topP)
		case "stop":
			stop = r.Raw()
			err = checkOpenAIChat("stop", stop)
		case "tools":
			if tools = r.Raw(); !absent(tools) && tools[0] != '[' {
				err = invalid("tools", "an array of tool objects", tools)
			}
		case "tool_choice":
			toolChoice = r.Raw()
			err = checkOpenAIChat("tool_choice", toolChoice)
		}
		if r.Bad() {
			return nil, errBedrockRequestJSON
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case n <= 0:
		return nil, errors.New("convert: bedrock: messages must be a non-empty array")
	case w.role == 0:
		return nil, errors.New("convert: bedrock: no user or assistant message has content")
	}
	b = ow.End(append(b, "]}]"...))
	if w.system != nil {
		b = append(ow.Key(b, "system"), '[')
		b = ow.End(append(append(b, w.system...), ']'))
	}

	// inferenceConfig
	b = append(ow.Key(b, "inferenceConfig"), '{')
	start := len(b)
	if !isNumber(maxCompletion) {
		maxCompletion = maxTokens
	}
	for _, f := range [...]struct {
		name string
		raw  []byte
	}{{`"maxTokens":`, maxCompletion}, {`"temperature":`, temperature}, {`"topP":`, topP}} {
		if isNumber(f.raw) {
			b = appendSep(b, start)
			b = append(b, f.name...)
			b = append(b, f.raw...)
		}
	}
	if rawString(stop) {
		b = appendSep(b, start)
		b = append(b, `"stopSequences":[`...)
		b = append(b, stop...)
		b = append(b, ']')
	} else if sr := jsonbytes.NewReader(stop); len(stop) > 0 && sr.Enter('[') && sr.More(']') {
		b = appendSep(b, start)
		b = append(b, `"stopSequences":`...)
		b = append(b, stop...)
	}
	if len(b) == start {
		b = ow.Drop(b)
	} else {
		b = ow.End(append(b, '}'))
	}

	b, err = appendToolConfig(&ow, b, tools, toolChoice, w.toolBlocks)
	if err != nil {
		return nil, err
	}
	return ow.Close(b)
}

// converseTurns writes Converse messages, one content block at a time.
// The output is passed in and returned rather than kept here: stores
// through a pointer cost a GC write barrier.
type converseTurns struct {
	role       byte   // 'u'ser or 'a'ssistant: role of the open turn; 0 before the first
	toolBlocks bool   // a toolUse or toolResult block was written
	system     []byte // the system and developer text, as comma-separated text blocks
}

// block opens a content block in a turn of role ("user" or "assistant"):
// it continues the open turn when that has the same role and starts a new
// turn otherwise.
func (w *converseTurns) block(b []byte, role string) []byte {
	if w.role == role[0] {
		return append(b, ',')
	}
	open := `]},{"role":"user","content":[`
	if role != "user" {
		open = `]},{"role":"assistant","content":[`
	}
	if w.role == 0 {
		open = open[3:] // the first turn
	}
	w.role = role[0]
	return append(b, open...)
}

// text writes a text block; Converse rejects empty text, so "" (or a
// value that is not a string) is skipped.
func (w *converseTurns) text(b []byte, role string, s []byte) []byte {
	if !rawNonEmptyString(s) {
		return b
	}
	return appendTextBlock(w.block(b, role), s)
}

// appendTextBlock appends {"text":s}; s is a JSON string.
func appendTextBlock(b, s []byte) []byte {
	b = append(b, `{"text":`...)
	b = append(b, s...)
	return append(b, '}')
}

// message converts one OpenAI message.
func (w *converseTurns) message(r *jsonbytes.Reader, b []byte) ([]byte, error) {
	var role, content, calls, callID []byte
	if r.Enter('{') {
		for r.More('}') {
			switch string(r.Key()) {
			case "role":
				role = r.Raw()
			case "content":
				content = r.Raw()
			case "tool_calls":
				calls = r.Raw()
			case "tool_call_id":
				callID = r.Raw()
			default:
				r.Skip()
			}
		}
	}
	var err error
	switch role := jsonbytes.Unquote(role); role {
	case "system", "developer":
		w.system, err = appendSystemBlocks(w.system, content)
	case "user":
		b, err = w.userContent(b, content)
	case "assistant":
		b, err = w.assistant(b, content, calls)
	case "tool":
		b, err = w.toolResult(b, callID, content)
	default:
		err = fmt.Errorf("role %q is not supported", role)
	}
	return b, err
}

// eachPart calls fn for each part of an array content.
func eachPart(content []byte, fn func(p part) error) error {
	r := jsonbytes.NewReader(content)
	r.Enter('[')
	for r.More(']') {
		if err := fn(readPart(&r)); err != nil {
			return err
		}
	}
	return nil
}

func (w *converseTurns) userContent(b, content []byte) ([]byte, error) {
	if rawString(content) {
		return w.text(b, "user", content), nil
	}
	if len(content) == 0 || content[0] != '[' {
		return b, errors.New("user content must be a string or an array of parts")
	}
	err := eachPart(content, func(p part) (err error) {
		switch typ := jsonbytes.Unquote(p.typ); typ {
		case "text":
			b = w.text(b, "user", p.text)
		case "image_url":
			b, err = w.image(b, jsonbytes.Unquote(p.url))
		default:
			err = fmt.Errorf("content part type %q is not supported by Bedrock Converse", typ)
		}
		return err
	})
	return b, err
}

// image writes an image block from a data URI. Converse takes image bytes
// only (it cannot fetch a URL) in four formats.
func (w *converseTurns) image(b []byte, url string) ([]byte, error) {
	meta, data, ok := strings.Cut(url, ",")
	if !ok || !strings.HasPrefix(meta, "data:") || !strings.HasSuffix(meta, ";base64") {
		return b, errors.New("image_url must be a base64 data: URI: Bedrock Converse cannot fetch image URLs")
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
		return b, fmt.Errorf("image type %q is not supported by Bedrock Converse (png, jpeg, gif, webp)", mime)
	}
	b = w.block(b, "user")
	b = append(b, `{"image":{"format":"`...)
	b = append(b, format...)
	b = append(b, `","source":{"bytes":`...)
	b = jsonbytes.AppendString(b, data)
	return append(b, "}}}"...), nil
}

func (w *converseTurns) assistant(b, content, calls []byte) ([]byte, error) {
	if rawString(content) {
		b = w.text(b, "assistant", content)
	} else if len(content) > 0 && content[0] == '[' {
		eachPart(content, func(p part) error {
			switch string(p.typ) {
			case `"text"`:
				b = w.text(b, "assistant", p.text)
			case `"refusal"`:
				b = w.text(b, "assistant", p.refusal)
			}
			return nil
		})
	}
	r := jsonbytes.NewReader(calls)
	if len(calls) == 0 || !r.Enter('[') {
		return b, nil
	}
	for n := 0; r.More(']'); n++ {
		tc := readToolCall(&r)
		if !rawString(tc.id) || !rawString(tc.name) {
			return b, fmt.Errorf("tool_calls[%d] needs an id and a function.name", n)
		}
		b = w.block(b, "assistant")
		b = append(b, `{"toolUse":{"toolUseId":`...)
		b = append(b, tc.id...)
		b = append(b, `,"name":`...)
		b = append(b, tc.name...)
		b = append(b, `,"input":`...)
		// The arguments are a JSON string holding JSON; Converse wants
		// the JSON itself.
		mark := len(b)
		b = jsonbytes.AppendUnescaped(b, inner(tc.args))
		switch args := bytes.TrimSpace(b[mark:]); {
		case len(args) == 0:
			b = append(b[:mark], "{}"...)
		case !jsonbytes.Valid(args):
			return b, fmt.Errorf("tool_calls[%d].function.arguments is not valid JSON; Converse needs a JSON input", n)
		default:
			b = append(b[:mark], args...)
		}
		b = append(b, "}}"...)
		w.toolBlocks = true
	}
	return b, nil
}

// toolResult writes a toolResult block into a user turn, so consecutive
// tool messages (and a user message after them) share one turn.
func (w *converseTurns) toolResult(b, id, content []byte) ([]byte, error) {
	if !rawString(id) {
		return b, errors.New("tool message needs a tool_call_id")
	}
	b = w.block(b, "user")
	b = append(b, `{"toolResult":{"toolUseId":`...)
	b = append(b, id...)
	switch {
	case rawString(content):
		b = append(b, `,"content":[{"text":`...)
		b = append(b, content...)
		b = append(b, '}')
	case len(content) > 0 && content[0] == '[':
		b = append(b, `,"content":[`...)
		start := len(b)
		eachPart(content, func(p part) error {
			if string(p.typ) == `"text"` && p.text != nil {
				b = appendSep(b, start)
				b = appendTextBlock(b, p.text)
			}
			return nil
		})
	default:
		return b, errors.New("tool message content must be a string or an array of text parts")
	}
	w.toolBlocks = true
	return append(b, "]}}"...), nil
}

// appendSystemBlocks appends a system or developer message's text as
// comma-separated {"text":…} blocks.
func appendSystemBlocks(b, content []byte) ([]byte, error) {
	add := func(s []byte) {
		if rawNonEmptyString(s) {
			if b != nil {
				b = append(b, ',')
			}
			b = appendTextBlock(b, s)
		}
	}
	switch {
	case rawString(content):
		add(content)
	case len(content) > 0 && content[0] == '[':
		eachPart(content, func(p part) error {
			add(p.text)
			return nil
		})
	default:
		return b, errors.New("system content must be a string or an array of text parts")
	}
	return b, nil
}

// appendToolConfig writes toolConfig from tools and tool_choice. Converse
// has no "none": the tools are then left out, unless the conversation
// already holds toolUse/toolResult blocks, which need a toolConfig, in
// which case toolChoice is left out (the model chooses).
func appendToolConfig(ow *jsonbytes.ObjectWriter, b, tools, toolChoice []byte, toolBlocks bool) ([]byte, error) {
	if len(tools) <= 2 || tools[0] != '[' {
		return b, nil
	}
	var choice string
	switch tc := jsonbytes.Parse(toolChoice); {
	case !tc.Exists() || tc.IsNull():
		// Converse's default is auto as well.
	case tc.Str() == "auto":
		choice = `{"auto":{}}`
	case tc.Str() == "required":
		choice = `{"any":{}}`
	case tc.Str() == "none":
		if !toolBlocks {
			return b, nil
		}
	case tc.Get("function.name").IsString():
		choice = `{"tool":{"name":` + string(tc.Get("function.name")) + `}}`
	default:
		return b, fmt.Errorf("convert: bedrock: tool_choice %s is not supported by Bedrock Converse", tc)
	}
	b = append(ow.Key(b, "toolConfig"), `{"tools":[`...)
	r := jsonbytes.NewReader(tools)
	r.Enter('[')
	for n := 0; r.More(']'); n++ {
		tool, err := readOpenAITool(&r, n)
		if err != nil {
			return b, err
		}
		if string(tool.typ) != `"function"` {
			return b, fmt.Errorf("convert: bedrock: tools[%d]: only function tools with a name are supported (type %q)", n, jsonbytes.Unquote(tool.typ))
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"toolSpec":{"name":`...)
		b = append(b, tool.name...)
		if rawString(tool.desc) {
			b = append(b, `,"description":`...)
			b = append(b, tool.desc...)
		}
		b = append(b, `,"inputSchema":{"json":`...)
		b = appendSchema(b, tool.params)
		b = append(b, "}}}"...)
	}
	b = append(b, ']')
	if choice != "" {
		b = append(b, `,"toolChoice":`...)
		b = append(b, choice...)
	}
	return ow.End(append(b, '}')), nil
}

// Response builds a chat.completion from a ConverseResponse: all text
// blocks joined as content, toolUse blocks as tool_calls, reasoning text
// as reasoning_content.
func (t *openAIToBedrock) Response(body []byte) ([]byte, error) {
	var stopReason, usage []byte
	var blocks []block
	r := jsonbytes.NewReader(body)
	if !r.Enter('{') {
		return nil, errConverseJSON
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "output":
			content := memberOf(r.Member("message"), "content")
			cr := jsonbytes.NewReader(content)
			if len(content) > 0 && cr.Enter('[') {
				for cr.More(']') {
					blocks = append(blocks, readConverseBlock(&cr))
				}
			}
		case "stopReason":
			stopReason = r.Raw()
		case "usage":
			usage = r.Raw()
		default:
			r.Skip()
		}
	}
	if r.Bad() {
		return nil, errConverseJSON
	}
	t.usage.Merge(converseUsage(jsonbytes.Parse(usage)))

	b := make([]byte, 0, len(body)+256)
	b = appendChatHead(b, "chat.completion", jsonbytes.StringView(jsonbytes.AppendString(nil, t.id)), jsonbytes.StringView(jsonbytes.AppendString(nil, t.model)), t.created)
	b = append(b, `{"index":0,"message":`...)
	b = appendChatMessage(b, blocks)
	b = append(b, `,"finish_reason":"`...)
	b = append(b, converseFinishReason(jsonbytes.Unquote(stopReason))...)
	b = append(b, `"}],"usage":`...)
	b = appendOpenAIUsage(b, t.usage)
	return append(b, '}'), nil
}

// readConverseBlock reads a Converse content block as the Anthropic block
// it amounts to: text, reasoningContent as thinking, toolUse as tool_use.
func readConverseBlock(r *jsonbytes.Reader) block {
	var blk block
	if !r.Enter('{') {
		return blk
	}
	for r.More('}') {
		switch string(r.Key()) {
		case "text":
			if blk.text = r.Str(); blk.text != nil {
				blk.typ = `"text"`
			}
		case "reasoningContent":
			if blk.thinking = memberOf(r.Member("reasoningText"), "text"); rawString(blk.thinking) {
				blk.typ = `"thinking"`
			}
		case "toolUse":
			blk.typ = `"tool_use"`
			if !r.Enter('{') {
				continue
			}
			for r.More('}') {
				switch string(r.Key()) {
				case "toolUseId":
					blk.id = r.Raw()
				case "name":
					blk.name = r.Raw()
				case "input":
					blk.input = r.Raw()
				default:
					r.Skip()
				}
			}
		default:
			r.Skip()
		}
	}
	return blk
}

// converseFinishReason maps a Converse stopReason to an OpenAI
// finish_reason (docs/protocol-mapping.md#openai-to-bedrock-converse).
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
		out = t.out[:0]
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
		out = t.event(out, m.Header(":event-type"), m.Payload)
	}
	if len(msgs) > 0 {
		t.out = out // keep the grown buffer for the next call
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

// converseEvent holds the raw fields of a ConverseStream event payload.
type converseEvent struct {
	index                  []byte // contentBlockIndex
	toolUse                []byte // start.toolUse
	text, input, reasoning []byte // delta.text, delta.toolUse.input, delta.reasoningContent.text
	stopReason, usage      []byte
}

// read reads an event payload in one pass; a malformed one reads as empty.
func (e *converseEvent) read(payload []byte) {
	r := jsonbytes.NewReader(payload)
	r.Enter('{')
	for r.More('}') {
		switch string(r.Key()) {
		case "contentBlockIndex":
			e.index = r.Raw()
		case "delta":
			if !r.Enter('{') {
				continue
			}
			for r.More('}') {
				switch string(r.Key()) {
				case "text":
					e.text = r.Raw()
				case "toolUse":
					e.input = r.Member("input")
				case "reasoningContent":
					e.reasoning = r.Member("text")
				default:
					r.Skip()
				}
			}
		case "start":
			e.toolUse = r.Member("toolUse")
		case "stopReason":
			e.stopReason = r.Raw()
		case "usage":
			e.usage = r.Raw()
		default:
			r.Skip()
		}
	}
	if r.Bad() {
		*e = converseEvent{}
	}
}

// event appends the chunks for one ConverseStream event.
func (t *openAIToBedrock) event(out []byte, typ string, payload []byte) []byte {
	if t.head == nil {
		t.head = appendChatHead([]byte("data: "), "chat.completion.chunk", jsonbytes.StringView(jsonbytes.AppendString(nil, t.id)), jsonbytes.StringView(jsonbytes.AppendString(nil, t.model)), t.created)
	}
	var e converseEvent
	e.read(payload)
	switch typ {
	case "messageStart":
		return appendDeltaChunk(out, t.head, `{"role":"assistant","content":""}`, nil, "")
	case "contentBlockStart":
		if e.toolUse == nil {
			return out
		}
		t.first = true
		t.tools = append(t.tools, jsonbytes.Parse(e.index).Int())
		return appendToolCallChunk(out, t.head, int64(len(t.tools)-1), memberOf(e.toolUse, "toolUseId"), memberOf(e.toolUse, "name"))
	case "contentBlockDelta":
		switch {
		case rawString(e.text):
			t.first = true
			return appendDeltaChunk(out, t.head, `{"content":`, e.text, "}")
		case rawNonEmptyString(e.input):
			index := t.toolIndex(jsonbytes.Parse(e.index).Int())
			if index < 0 {
				return out // no contentBlockStart named this tool: nothing to attach it to
			}
			return appendArgumentsChunk(out, t.head, int64(index), e.input)
		case rawString(e.reasoning):
			t.first = true
			return appendDeltaChunk(out, t.head, `{"reasoning_content":`, e.reasoning, "}")
		}
	case "messageStop":
		t.stop = true
		return appendFinishChunk(out, t.head, converseFinishReason(jsonbytes.Unquote(e.stopReason)))
	case "metadata":
		t.usage.Merge(converseUsage(jsonbytes.Parse(e.usage)))
		out = append(out, t.head...)
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

func (t *openAIToBedrock) Usage() Usage { return t.usage }
