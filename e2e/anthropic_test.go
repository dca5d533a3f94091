package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

func anthropicClient(base string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey("client-key-must-not-leak"), aoption.WithMaxRetries(0))
}

func accumulate(t *testing.T, stream interface {
	Next() bool
	Current() anthropic.MessageStreamEventUnion
	Err() error
}) anthropic.Message {
	t.Helper()
	var m anthropic.Message
	for stream.Next() {
		if err := m.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// An Anthropic client on a /v1/messages route talks to an OpenAI-protocol
// provider: request, response and stream are converted both ways.
func TestAnthropicClientToOpenAIProvider(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("operator-key"))
			defer m.Close()
			base, _ := startGateway(t, profile, oneRoute("/v1/messages", "provider: deepseek\nauth:\n  header:\n    Authorization: Bearer operator-key\noptions:\n  model: deepseek-chat\n",
				map[string]string{"api.deepseek.com": m.URL}))
			c := anthropicClient(base)
			ctx := context.Background()
			msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 256, System: []anthropic.TextBlockParam{{Text: "be terse"}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello claude"))},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "You said: hello claude" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens == 0 {
				t.Fatalf("%+v", msg)
			}
			up := m.Last()
			if up.Path != "/chat/completions" || up.Get("messages.0.role").Str != "system" || up.Get("model").Str != "deepseek-chat" ||
				up.Get("max_tokens").Int() != 256 || up.Header.Get("x-api-key") != "" || up.Header.Get("anthropic-version") != "" {
				t.Fatalf("upstream %s %v %s", up.Path, up.Header, up.Body)
			}

			s := accumulate(t, c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 256,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream claude"))},
			}))
			if len(s.Content) != 1 || s.Content[0].Text != "You said: stream claude" || s.Usage.OutputTokens == 0 || s.StopReason != "end_turn" {
				t.Fatalf("stream %+v", s)
			}

			tu := accumulate(t, c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: "claude-sonnet-4-5", MaxTokens: 256, Tools: []anthropic.ToolUnionParam{weatherTool},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))},
			}))
			if tu.StopReason != "tool_use" || len(tu.Content) == 0 {
				t.Fatalf("tool stream %+v", tu)
			}
			use := tu.Content[len(tu.Content)-1].AsToolUse()
			if use.Name != "get_weather" || !strings.Contains(string(use.Input), `"city"`) {
				t.Fatalf("tool use %+v", use)
			}
		})
	}
}

// provider anthropic: /v1/messages clients go to Anthropic natively with
// the operator's key, and OpenAI clients to its OpenAI-compatible endpoint.
func TestAnthropicProviderNative(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewAnthropic(mock.WithAPIKey("sk-ant-operator"))
			defer m.Close()
			conf := "provider: anthropic\nauth:\n  header:\n    x-api-key: sk-ant-operator\n"
			base, _ := startGateway(t, profile, "routes:\n"+
				"  - id: m\n    uri: /v1/messages\n    plugins:\n      ai-proxy:\n"+indent(conf, 8)+"\n"+
				"  - id: c\n    uri: /v1/chat/completions\n    plugins:\n      ai-proxy:\n"+indent(conf, 8)+"\n"+
				"clusters:\n  api.anthropic.com: "+m.URL+"\n")
			ctx := context.Background()
			c := anthropicClient(base)
			msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("native call"))}})
			if err != nil {
				t.Fatal(err)
			}
			if msg.Content[0].Text != "You said: native call" || m.Last().Path != "/v1/messages" || m.Last().Header.Get("anthropic-version") == "" {
				t.Fatalf("%+v %s", msg, m.Last().Path)
			}
			s := accumulate(t, c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("native stream"))}}))
			if s.Content[0].Text != "You said: native stream" || s.Usage.OutputTokens == 0 {
				t.Fatalf("%+v", s)
			}
			oc := client(base)
			resp, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "claude-sonnet-4-5",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("compat")}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "You said: compat" || m.Last().Path != "/v1/chat/completions" {
				t.Fatalf("%+v %s", resp.Choices, m.Last().Path)
			}
		})
	}
}

// Beyond APISIX: an OpenAI client to native Anthropic Messages, chosen by
// an override endpoint ending in /v1/messages.
func TestOpenAIClientToNativeAnthropic(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewAnthropic(mock.WithAPIKey("sk-ant-operator"))
			defer m.Close()
			base, _ := startGateway(t, profile, oneRoute("/v1/chat/completions",
				"provider: anthropic\nauth:\n  header:\n    x-api-key: sk-ant-operator\noverride:\n  endpoint: https://api.anthropic.com/v1/messages\noptions:\n  model: claude-sonnet-4-5\n",
				map[string]string{"api.anthropic.com": m.URL}))
			c := client(base)
			ctx := context.Background()
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("to claude")}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "You said: to claude" || resp.Usage.CompletionTokens == 0 {
				t.Fatalf("%+v", resp)
			}
			up := m.Last()
			if up.Path != "/v1/messages" || up.Get("system").String() == "" || up.Get("max_tokens").Int() == 0 || up.Get("model").Str != "claude-sonnet-4-5" {
				t.Fatalf("upstream %s %s", up.Path, up.Body)
			}
			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream to claude")}})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != "You said: stream to claude" {
				t.Fatalf("%q", acc.Choices[0].Message.Content)
			}
		})
	}
}

// Upstream errors reach an Anthropic client as Anthropic error objects.
func TestAnthropicClientGetsAnthropicErrors(t *testing.T) {
	m := mock.NewOpenAI(mock.WithStatus(429, ""))
	defer m.Close()
	base, _ := startGateway(t, profiles[0], oneRoute("/v1/messages", "provider: openai\nauth:\n  header:\n    Authorization: Bearer k\n",
		map[string]string{"api.openai.com": m.URL}))
	c := anthropicClient(base)
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "x", MaxTokens: 5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(apiErr.RawJSON(), `"type":"error"`) {
		t.Fatalf("%v", err)
	}
}
