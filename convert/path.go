package convert

import "strings"

// ProtocolFromPath names the protocol of a client request from its path
// (query allowed): the endpoint its last segments name. sure is false when
// the path names none; p is then OpenAIChat, the protocol a bare route
// speaks unless its body says otherwise.
func ProtocolFromPath(path string) (p Protocol, sure bool) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	switch {
	case strings.HasSuffix(path, "/messages"):
		return AnthropicMessages, true
	case strings.HasSuffix(path, "/responses"):
		return OpenAIResponses, true
	case strings.HasSuffix(path, "/embeddings"):
		return OpenAIEmbeddings, true
	case strings.HasSuffix(path, "/converse"), strings.HasSuffix(path, "/converse-stream"):
		return BedrockConverse, true
	case strings.HasSuffix(path, "/chat/completions"):
		return OpenAIChat, true
	}
	return OpenAIChat, false
}

// DefaultPath is where an OpenAI-compatible API serves protocol p ("" when
// the protocol has no fixed path).
func DefaultPath(p Protocol) string {
	switch p {
	case OpenAIChat:
		return "/v1/chat/completions"
	case OpenAIResponses:
		return "/v1/responses"
	case OpenAIEmbeddings:
		return "/v1/embeddings"
	case AnthropicMessages:
		return "/v1/messages"
	}
	return ""
}

// ModelInBody reports whether requests of protocol p name the model in
// their body; Bedrock Converse and Vertex AI :predict name it in the path.
func ModelInBody(p Protocol) bool {
	return p != BedrockConverse && p != VertexPredict
}

// PathStreams reports whether the path itself asks for a stream, as
// Bedrock's ConverseStream operation does.
func PathStreams(path string) bool {
	bare, _, _ := strings.Cut(path, "?")
	return strings.HasSuffix(bare, "/converse-stream")
}

// IsModelListing reports whether the path reads models, as OpenAI's
// GET /v1/models and GET /v1/models/{id} do.
func IsModelListing(path string) bool {
	bare, _, _ := strings.Cut(path, "?")
	bare = strings.TrimSuffix(bare, "/")
	if strings.HasSuffix(bare, "/models") {
		return true
	}
	i := strings.LastIndexByte(bare, '/')
	return i > 0 && strings.HasSuffix(bare[:i], "/models")
}

// IsStreamContentType reports whether a response Content-Type is a stream:
// server-sent events, or Bedrock's binary event stream.
func IsStreamContentType(ctype string) bool {
	return strings.Contains(ctype, "text/event-stream") || strings.Contains(ctype, "vnd.amazon.eventstream")
}

// ForeignHeader reports whether a client request header belongs to
// another protocol's API than upstream's: Anthropic's anthropic-* headers
// (anthropic-version, anthropic-beta) go to Anthropic Messages only.
func ForeignHeader(name string, upstream Protocol) bool {
	return strings.HasPrefix(name, "anthropic-") && upstream != AnthropicMessages
}
