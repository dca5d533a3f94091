package convert

import (
	"encoding/json"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
)

func TestErrorToAnthropic(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"openai 404 model_not_found", 404, string(loadFixture(t, "openai/error-404-model-not-found.json")),
			`{"type":"error","error":{"type":"not_found_error","message":"The model ` + "`gpt-4.1-nano-wrong`" + ` does not exist or you do not have access to it."}}`},
		{"openai 400", 400, string(loadFixture(t, "openai/error-400-empty-messages.json")),
			`{"type":"error","error":{"type":"invalid_request_error","message":"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."}}`},
		{"openai 429 rate limit", 429, `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`},
		{"anthropic body keeps its type", 529, string(loadFixture(t, "anthropic/error-529-overloaded.json")),
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		{"bare message (Bedrock style)", 403, `{"message":"denied"}`,
			`{"type":"error","error":{"type":"permission_error","message":"denied"}}`},
		{"string error", 500, `{"error":"boom"}`,
			`{"type":"error","error":{"type":"api_error","message":"boom"}}`},
		{"plain text, escaped", 502, "bad \"gateway\"\n",
			`{"type":"error","error":{"type":"api_error","message":"bad \"gateway\"\n"}}`},
		{"empty body", 503, ``,
			`{"type":"error","error":{"type":"overloaded_error","message":"upstream returned an empty error body"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustNew(t, AnthropicMessages, OpenAIChat).Error(tc.status, []byte(tc.body))
			requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(tc.want)))
			var e anthropic.ErrorResponse
			if err := json.Unmarshal(got, &e); err != nil || e.Type != "error" {
				t.Fatalf("anthropic SDK cannot read %s: %v", got, err)
			}
		})
	}
}

func TestErrorToOpenAI(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"anthropic 400", 400, string(loadFixture(t, "anthropic/error-400-invalid-request.json")),
			`{"error":{"message":"max_tokens: Field required","type":"invalid_request_error","param":null,"code":null}}`},
		{"anthropic 404", 404, string(loadFixture(t, "anthropic/error-404-not-found.json")),
			`{"error":{"message":"The requested resource could not be found.","type":"invalid_request_error","param":null,"code":null}}`},
		{"anthropic 529", 529, string(loadFixture(t, "anthropic/error-529-overloaded.json")),
			`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":null}}`},
		{"anthropic 429", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"r"}}`,
			`{"error":{"message":"r","type":"rate_limit_error","param":null,"code":null}}`},
		{"openai body keeps its code", 404, string(loadFixture(t, "openai/error-404-model-not-found.json")),
			`{"error":{"message":"The model ` + "`gpt-4.1-nano-wrong`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`},
		{"text", 401, "no key",
			`{"error":{"message":"no key","type":"authentication_error","param":null,"code":null}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustNew(t, OpenAIChat, AnthropicMessages).Error(tc.status, []byte(tc.body))
			requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(tc.want)))
		})
	}
}

func TestErrorBody(t *testing.T) {
	if got := string(ErrorBody(AnthropicMessages, 502, `upstream "x" failed`)); got != `{"type":"error","error":{"type":"api_error","message":"upstream \"x\" failed"}}` {
		t.Errorf("anthropic: %s", got)
	}
	if got := string(ErrorBody(OpenAIChat, 429, "slow")); got != `{"error":{"message":"slow","type":"rate_limit_error","param":null,"code":null}}` {
		t.Errorf("openai: %s", got)
	}
}
