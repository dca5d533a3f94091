package convert

import "github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"

// CheckRequest checks the members protocol p requires, the way
// its API does, so that a request the provider would refuse is refused
// here, before anything is sent:
//   - chat and messages need a non-empty "messages" array (OpenAI answers
//     400 "[] is too short", Anthropic "at least one message is required");
//     Converse only an array (Bedrock can fill it from a prompt);
//   - Anthropic Messages needs "max_tokens", a positive integer, unless the
//     operator sets override.llm_options.max_tokens;
//   - embeddings need "input", a non-empty string or array;
//   - responses need "input", a string or an array.
//
// The model is not checked: options.model may supply it. maxTokensSet:
// the gateway sets max_tokens itself (override.llm_options.max_tokens). It
// returns what is wrong, "" when nothing is.
func CheckRequest(p Protocol, obj *jsonbytes.Object, maxTokensSet bool) string {
	msg := ""
	switch p {
	case OpenAIChat, AnthropicMessages, BedrockConverse:
		v, ok := obj.Get("messages")
		switch {
		case !ok:
			msg = p.String() + ` request needs a "messages" array`
		case v[0] != '[':
			msg = `"messages" must be an array of messages, got ` + TypeOf(v)
		case p != BedrockConverse && emptyArray(v):
			msg = `"messages" must not be empty: send at least one message`
		case p == AnthropicMessages && !maxTokensSet:
			if v, ok := obj.Get("max_tokens"); !ok {
				msg = `"max_tokens" is required: the maximum number of tokens to generate`
			} else if !positiveInt(v) {
				msg = `"max_tokens" must be a positive integer, got ` + TypeOf(v)
			}
		}
	case OpenAIEmbeddings, OpenAIResponses:
		v, ok := obj.Get("input")
		switch {
		case !ok:
			msg = p.String() + ` request needs an "input"`
		case v[0] != '"' && v[0] != '[':
			msg = `"input" must be a string or an array, got ` + TypeOf(v)
		case p == OpenAIEmbeddings && (string(v) == `""` || emptyArray(v)):
			msg = `"input" must not be empty: send the text to embed`
		}
	}
	if p == BedrockConverse && msg == "" && !converseMessages(obj) {
		msg = "this Bedrock route takes the Converse API format (content as a list of blocks such as [{\"text\":\"...\"}], system as a top-level list); " +
			"the body looks like OpenAI chat: send it to a route whose path does not end in /converse to have it translated"
	}
	return msg
}

// emptyArray reports whether raw is the JSON array [].
func emptyArray(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	for _, c := range raw[1:] {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c == ']'
		}
	}
	return false
}

// positiveInt reports whether raw is a JSON integer of at least 1.
func positiveInt(raw []byte) bool {
	if len(raw) == 0 || raw[0] < '1' || raw[0] > '9' {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// converseMessages reports whether the messages of a Converse request
// look like Converse rather than OpenAI chat: Converse content is a list of
// blocks, never a string, and it has no system or tool roles.
func converseMessages(obj *jsonbytes.Object) bool {
	msgs, _ := obj.Get("messages")
	openai := false
	jsonbytes.Parse(msgs).ForEach(func(_, m jsonbytes.Value) bool {
		role := m.Get("role").Str()
		if m.Get("content").IsString() || role == "system" || role == "tool" || role == "developer" {
			openai = true
		}
		return !openai
	})
	return !openai
}

// ProtocolFromBody names the protocol of a request whose path names none
// by its members: "messages" is chat, "input" embeddings; Unknown when
// neither is there.
func ProtocolFromBody(obj *jsonbytes.Object) Protocol {
	switch {
	case obj.Has("messages"):
		return OpenAIChat
	case obj.Has("input"):
		return OpenAIEmbeddings
	}
	return Unknown
}

// StreamUsageMember is the member a streamed request of protocol p sets
// to have the stream report its usage: OpenAI chat's stream_options, whose
// include_usage adds a last chunk with the usage. It is "" for protocols
// whose streams report usage unasked.
func StreamUsageMember(p Protocol) string {
	if p == OpenAIChat {
		return "stream_options"
	}
	return ""
}

var includeUsage = []byte(`{"include_usage":true}`)

// WithStreamUsage returns current, the value of StreamUsageMember (nil
// when absent), asking for usage; changed is false when it already does.
func WithStreamUsage(current []byte) (raw []byte, changed bool, err error) {
	switch {
	case len(current) == 0 || current[0] != '{':
		return includeUsage, true, nil
	case !jsonbytes.Parse(current).Get("include_usage").Bool():
		raw, err = jsonbytes.SetMember(current, "include_usage", []byte("true"))
		return raw, err == nil, err
	}
	return current, false, nil
}

// MaxTokensAlias is the other name protocol p has for the output-token
// cap called field, "" when it has none. OpenAI chat has two,
// max_tokens and max_completion_tokens, and each provider reads one.
func MaxTokensAlias(p Protocol, field string) string {
	if p != OpenAIChat {
		return ""
	}
	switch field {
	case "max_tokens":
		return "max_completion_tokens"
	case "max_completion_tokens":
		return "max_tokens"
	}
	return ""
}
