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
