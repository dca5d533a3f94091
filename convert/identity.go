package convert

import (
	"bytes"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/sse"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

func init() {
	for _, p := range []Protocol{OpenAIChat, OpenAIResponses, OpenAIEmbeddings, AnthropicMessages} {
		register(p, p, func() Translator { return &identity{proto: p} })
	}
}

// identity passes bodies and stream chunks through untouched and only
// observes them for usage and the first generated token. Each stream chunk
// is returned as the same slice, so every upstream event reaches the client
// as soon as it arrives.
type identity struct {
	proto  Protocol
	parser sse.Parser
	usage  Usage
	ac     anthropicCounts
	first  bool
}

// reset readies t for a new exchange, keeping the parser's buffers.
func (t *identity) reset() {
	t.parser.Reset()
	*t = identity{proto: t.proto, parser: t.parser}
}

func (t *identity) Request(req *jsonbytes.Object, dst []byte, ed jsonbytes.Editor) ([]byte, error) {
	return req.Edit(dst, ed)
}

func (t *identity) Response(body []byte) ([]byte, error) {
	u := memberOf(body, "usage")
	switch t.proto {
	case OpenAIChat, OpenAIEmbeddings:
		t.usage = openAIUsage(u)
	case OpenAIResponses:
		t.usage = responsesUsage(u)
	case AnthropicMessages:
		t.ac.update(u)
		t.usage = t.ac.usage()
	}
	return body, nil
}

func (t *identity) Error(status int, body []byte) []byte { return body }

func (t *identity) Stream(chunk []byte, eos bool) ([]byte, error) {
	t.parser.Feed(chunk, t.event)
	if eos {
		t.parser.Flush(t.event)
	}
	return chunk, nil
}

func (t *identity) StreamContentType() string { return "text/event-stream" }
func (t *identity) Usage() Usage              { return t.usage }
func (t *identity) FirstToken() bool          { return t.first }

func (t *identity) event(ev sse.Event) {
	switch t.proto {
	case OpenAIChat:
		t.openAIChatEvent(ev.Data)
	case OpenAIResponses:
		t.responsesEvent(ev)
	case AnthropicMessages:
		t.anthropicEvent(ev)
	}
}

// openAIChatEvent observes one chat.completion.chunk. Usage is looked for
// only when the text `"usage"` is followed by an object, which skips the
// usage:null of ordinary chunks without parsing them.
func (t *identity) openAIChatEvent(data []byte) {
	if hasObjectKey(data, "usage") {
		if u := memberOf(data, "usage"); len(u) > 0 {
			t.usage = openAIUsage(u)
		}
	}
	if !t.first && len(data) > 0 && data[0] == '{' {
		t.first = chatDeltaHasContent(jsonbytes.Parse(data).Get("choices.0.delta"))
	}
}

// responsesEvent observes one Responses API stream event. Events carry
// their type both as the SSE event name and in data.type.
func (t *identity) responsesEvent(ev sse.Event) {
	switch eventType(ev) {
	case "response.completed", "response.incomplete", "response.failed":
		if u := memberOf(memberOf(ev.Data, "response"), "usage"); len(u) > 0 {
			t.usage = responsesUsage(u)
		}
	case "response.output_text.delta", "response.refusal.delta",
		"response.function_call_arguments.delta", "response.reasoning_text.delta",
		"response.reasoning_summary_text.delta":
		t.first = true
	}
}

// anthropicEvent observes one Messages stream event. message_start carries
// input and cache counts, message_delta the cumulative output count.
func (t *identity) anthropicEvent(ev sse.Event) {
	switch eventType(ev) {
	case "message_start":
		t.ac.update(memberOf(memberOf(ev.Data, "message"), "usage"))
		t.usage = t.ac.usage()
	case "message_delta":
		t.ac.update(memberOf(ev.Data, "usage"))
		t.usage = t.ac.usage()
	case "content_block_delta":
		t.first = true
	}
}

// eventType is the SSE event name, or data.type for streams without
// "event:" lines.
func eventType(ev sse.Event) string {
	if ev.Name != nil {
		return jsonbytes.StringView(ev.Name)
	}
	return jsonbytes.Parse(ev.Data).Get("type").Str()
}

// hasObjectKey reports whether data contains "name" followed by ':' and
// '{'. It is a cheap prefilter: a match inside a string value is impossible
// because quotes there are escaped. It searches for `name"` rather than
// `"name"`: '"' is the most frequent byte of JSON, which would make the
// search stop at every string.
func hasObjectKey(data []byte, name string) bool {
	for {
		i := bytes.Index(data, []byte(name))
		if i < 0 {
			return false
		}
		quoted := i > 0 && data[i-1] == '"'
		data = data[i+len(name):]
		if !quoted || len(data) == 0 || data[0] != '"' {
			continue
		}
		j := 1
		for j < len(data) && (data[j] == ' ' || data[j] == ':' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j++
		}
		if j < len(data) && data[j] == '{' {
			return true
		}
	}
}

// chatDeltaHasContent reports whether a chat chunk's delta carries
// generated output: text, reasoning, a refusal or a tool call.
func chatDeltaHasContent(d jsonbytes.Value) bool {
	if !d.IsObject() {
		return false
	}
	found := false
	d.ForEach(func(k, v jsonbytes.Value) bool {
		switch k.Str() {
		case "content", "reasoning_content", "reasoning", "refusal":
			found = v.IsString() && v.Str() != ""
		case "tool_calls":
			found = v.IsArray() && v.Get("0").Exists()
		}
		return !found
	})
	return found
}

// usageKeys names the members of an OpenAI usage object, which differ
// between Chat Completions and the Responses API.
type usageKeys struct {
	prompt, completion, total string
	promptDetails, cacheWrite string // cached_tokens and cacheWrite are in promptDetails
	completionDetails         string // holds reasoning_tokens
}

var (
	chatUsageKeys      = usageKeys{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "cache_creation_tokens", "completion_tokens_details"}
	responsesUsageKeys = usageKeys{"input_tokens", "output_tokens", "total_tokens", "input_tokens_details", "cache_write_tokens", "output_tokens_details"}
)

// openAIUsage reads an OpenAI Chat or Embeddings usage object (raw JSON).
func openAIUsage(raw []byte) Usage { return readUsage(raw, &chatUsageKeys) }

// responsesUsage reads an OpenAI Responses API usage object (raw JSON).
func responsesUsage(raw []byte) Usage { return readUsage(raw, &responsesUsageKeys) }

// readUsage walks the usage object once with a jsonbytes.Reader: every
// response pays for it, and a ForEach with its callback costs several times
// more in Wasm.
func readUsage(raw []byte, k *usageKeys) Usage {
	var u Usage
	r := jsonbytes.NewReader(raw)
	if r.Enter('{') {
		for r.More('}') {
			switch key := r.Key(); {
			case string(key) == k.prompt:
				u.PromptTokens = jsonbytes.ParseInt(r.Raw())
			case string(key) == k.completion:
				u.CompletionTokens = jsonbytes.ParseInt(r.Raw())
			case string(key) == k.total:
				u.TotalTokens = jsonbytes.ParseInt(r.Raw())
			case string(key) == k.promptDetails:
				d := r.Raw()
				u.CacheReadTokens = jsonbytes.ParseInt(memberOf(d, "cached_tokens"))
				if c := jsonbytes.ParseInt(memberOf(d, k.cacheWrite)); c > 0 {
					u.CacheCreationTokens = c
				}
			case string(key) == "prompt_cache_hit_tokens": // DeepSeek
				if v := jsonbytes.ParseInt(r.Raw()); u.CacheReadTokens == 0 {
					u.CacheReadTokens = v
				}
			case string(key) == k.completionDetails:
				u.ReasoningTokens = jsonbytes.ParseInt(memberOf(r.Raw(), "reasoning_tokens"))
			default:
				r.Skip()
			}
		}
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

// anthropicCounts keeps Anthropic's separate counters. In a stream they
// arrive in pieces (message_start, then cumulative message_delta), so each
// present field is assigned, never added.
type anthropicCounts struct {
	input, cacheRead, cacheCreation, output int64
}

// update reads a raw Anthropic usage object; members that are not
// numbers (null, say) leave their counter as it was.
func (c *anthropicCounts) update(raw []byte) {
	r := jsonbytes.NewReader(raw)
	if !r.Enter('{') {
		return
	}
	for r.More('}') {
		k := r.Key()
		v := r.Raw()
		if !isNumber(v) {
			continue
		}
		switch string(k) {
		case "input_tokens":
			c.input = jsonbytes.ParseInt(v)
		case "cache_read_input_tokens":
			c.cacheRead = jsonbytes.ParseInt(v)
		case "cache_creation_input_tokens":
			c.cacheCreation = jsonbytes.ParseInt(v)
		case "output_tokens":
			c.output = jsonbytes.ParseInt(v)
		}
	}
}

// usage converts to the OpenAI sense: Anthropic's input_tokens excludes
// cache reads and writes, PromptTokens includes them.
func (c anthropicCounts) usage() Usage {
	p := c.input + c.cacheRead + c.cacheCreation
	return Usage{
		PromptTokens:        p,
		CompletionTokens:    c.output,
		TotalTokens:         p + c.output,
		CacheReadTokens:     c.cacheRead,
		CacheCreationTokens: c.cacheCreation,
	}
}
