package convert

import "testing"

func TestProtocolFromPath(t *testing.T) {
	tests := []struct {
		path string
		want Protocol
		sure bool
	}{
		{"/v1/chat/completions", OpenAIChat, true},
		{"/v1/chat/completions/?x=1", OpenAIChat, true},
		{"/v1/messages", AnthropicMessages, true},
		{"/v1/messages?beta=true", AnthropicMessages, true},
		{"/v1/responses", OpenAIResponses, true},
		{"/openai/v1/embeddings", OpenAIEmbeddings, true},
		{"/model/m/converse", BedrockConverse, true},
		{"/model/m/converse-stream", BedrockConverse, true},
		{"/anything", OpenAIChat, false},
		{"/", OpenAIChat, false},
		{"/v1/messages/x", OpenAIChat, false},
	}
	for _, tt := range tests {
		got, sure := ProtocolFromPath(tt.path)
		if got != tt.want || sure != tt.sure {
			t.Errorf("ProtocolFromPath(%q) = %v, %v; want %v, %v", tt.path, got, sure, tt.want, tt.sure)
		}
	}
}

func TestPathStreamsAndModelListing(t *testing.T) {
	tests := []struct {
		path            string
		streams, models bool
	}{
		{"/model/m/converse-stream", true, false},
		{"/model/m/converse-stream?x=1", true, false},
		{"/model/m/converse", false, false},
		{"/v1/models", false, true},
		{"/v1/models/", false, true},
		{"/v1/models/gpt-4o?x=1", false, true},
		{"/v1/models/a/b", false, false},
		{"/v1/chat/completions", false, false},
	}
	for _, tt := range tests {
		if got := PathStreams(tt.path); got != tt.streams {
			t.Errorf("PathStreams(%q) = %v, want %v", tt.path, got, tt.streams)
		}
		if got := IsModelListing(tt.path); got != tt.models {
			t.Errorf("IsModelListing(%q) = %v, want %v", tt.path, got, tt.models)
		}
	}
}

func TestStreamErrorEvent(t *testing.T) {
	tests := []struct {
		p    Protocol
		want string
	}{
		{OpenAIChat, "data: " + string(ErrorBody(OpenAIChat, 500, "cut")) + "\n\ndata: [DONE]\n\n"},
		{AnthropicMessages, "event: error\ndata: " + string(ErrorBody(AnthropicMessages, 500, "cut")) + "\n\n"},
	}
	for _, tt := range tests {
		if got := string(StreamErrorEvent(tt.p, "cut")); got != tt.want {
			t.Errorf("StreamErrorEvent(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestContentTypesAndHeaders(t *testing.T) {
	for ctype, want := range map[string]bool{
		"text/event-stream; charset=utf-8":   true,
		"application/vnd.amazon.eventstream": true,
		"application/json":                   false,
	} {
		if got := IsStreamContentType(ctype); got != want {
			t.Errorf("IsStreamContentType(%q) = %v, want %v", ctype, got, want)
		}
	}
	tests := []struct {
		name     string
		upstream Protocol
		foreign  bool
	}{
		{"anthropic-version", OpenAIChat, true},
		{"anthropic-beta", AnthropicMessages, false},
		{"x-request-id", OpenAIChat, false},
	}
	for _, tt := range tests {
		if got := ForeignHeader(tt.name, tt.upstream); got != tt.foreign {
			t.Errorf("ForeignHeader(%q, %v) = %v, want %v", tt.name, tt.upstream, got, tt.foreign)
		}
	}
}
