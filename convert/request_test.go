package convert

import (
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

func TestCheckRequestAndProtocolFromBody(t *testing.T) {
	tests := []struct {
		p            Protocol
		body         string
		maxTokensSet bool
		want         string // "" = accepted
		detected     Protocol
	}{
		{OpenAIChat, `{"messages":[{"role":"user","content":"hi"}]}`, false, "", OpenAIChat},
		{OpenAIChat, `{"messages":[]}`, false, `"messages" must not be empty: send at least one message`, OpenAIChat},
		{OpenAIChat, `{"messages":"hi"}`, false, `"messages" must be an array of messages, got a string`, OpenAIChat},
		{AnthropicMessages, `{"messages":[{"role":"user","content":"hi"}]}`, false, `"max_tokens" is required: the maximum number of tokens to generate`, OpenAIChat},
		{AnthropicMessages, `{"messages":[{"role":"user","content":"hi"}]}`, true, "", OpenAIChat},
		{AnthropicMessages, `{"max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, false, `"max_tokens" must be a positive integer, got a number`, OpenAIChat},
		{BedrockConverse, `{"messages":[]}`, false, "", OpenAIChat},
		{BedrockConverse, `{"messages":[{"role":"user","content":"hi"}]}`, false, "this Bedrock route takes the Converse API format (content as a list of blocks such as [{\"text\":\"...\"}], system as a top-level list); " +
			"the body looks like OpenAI chat: send it to a route whose path does not end in /converse to have it translated", OpenAIChat},
		{OpenAIEmbeddings, `{"input":""}`, false, `"input" must not be empty: send the text to embed`, OpenAIEmbeddings},
		{OpenAIResponses, `{"input":"hi"}`, false, "", OpenAIEmbeddings},
		{OpenAIResponses, `{"prompt":"hi"}`, false, `openai-responses request needs an "input"`, Unknown},
	}
	for _, tt := range tests {
		var obj jsonbytes.Object
		if err := obj.Parse([]byte(tt.body)); err != nil {
			t.Fatal(err)
		}
		if got := CheckRequest(tt.p, &obj, tt.maxTokensSet); got != tt.want {
			t.Errorf("CheckRequest(%v, %s) = %q, want %q", tt.p, tt.body, got, tt.want)
		}
		if got := ProtocolFromBody(&obj); got != tt.detected {
			t.Errorf("ProtocolFromBody(%s) = %v, want %v", tt.body, got, tt.detected)
		}
	}
}

func TestStreamUsageAndMaxTokensAlias(t *testing.T) {
	if StreamUsageMember(OpenAIChat) != "stream_options" || StreamUsageMember(AnthropicMessages) != "" {
		t.Error("only OpenAI chat streams are asked for usage")
	}
	tests := []struct {
		current, want string
		changed       bool
	}{
		{"", `{"include_usage":true}`, true},
		{"null", `{"include_usage":true}`, true},
		{`{"include_usage":false,"x":1}`, `{"include_usage":true,"x":1}`, true},
		{`{"include_usage":true}`, `{"include_usage":true}`, false},
	}
	for _, tt := range tests {
		var cur []byte
		if tt.current != "" {
			cur = []byte(tt.current)
		}
		got, changed, err := WithStreamUsage(cur)
		if err != nil || string(got) != tt.want || changed != tt.changed {
			t.Errorf("WithStreamUsage(%s) = %s, %v, %v; want %s, %v", tt.current, got, changed, err, tt.want, tt.changed)
		}
	}
	aliases := []struct {
		p            Protocol
		field, alias string
	}{
		{OpenAIChat, "max_tokens", "max_completion_tokens"},
		{OpenAIChat, "max_completion_tokens", "max_tokens"},
		{OpenAIResponses, "max_output_tokens", ""},
		{BedrockConverse, "inferenceConfig.maxTokens", ""},
		{AnthropicMessages, "max_tokens", ""},
	}
	for _, a := range aliases {
		if got := MaxTokensAlias(a.p, a.field); got != a.alias {
			t.Errorf("MaxTokensAlias(%v, %q) = %q, want %q", a.p, a.field, got, a.alias)
		}
	}
}
