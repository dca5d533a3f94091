package mock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/tidwall/gjson"
)

var anthropicHeaders = []string{"x-api-key", "ak", "anthropic-version", "2023-06-01"}

const anthropicTools = `"tools":[{"name":"get_weather","description":"Get weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"units":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city","units"]}}]`

func TestAnthropicMessages(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]string
	}{
		{"text", `{"model":"claude-sonnet-4-5","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"hello there"}]}`, map[string]string{
			"type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "id": "msg_mock_1",
			"content.#": "1", "content.0.type": "text", "content.0.text": "You said: hello there",
			"stop_reason": "end_turn", "stop_sequence": "", "usage.input_tokens": "4", "usage.output_tokens": "4",
			"usage.cache_read_input_tokens": "0", "usage.cache_creation_input_tokens": "0",
		}},
		{"system blocks and text blocks", `{"model":"m","max_tokens":64,"system":[{"type":"text","text":"One two.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"three"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}`,
			map[string]string{"content.0.text": "You said: three", "usage.input_tokens": "3"}},
		{"max tokens", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a b"}]}`,
			map[string]string{"content.0.text": "You", "stop_reason": "max_tokens", "usage.output_tokens": "1"}},
		{"tool use", `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"weather in SF?"}],` + anthropicTools + `}`, map[string]string{
			"stop_reason": "tool_use", "content.#": "1", "content.0.type": "tool_use", "content.0.id": "toolu_mock_1_0",
			"content.0.name": "get_weather", "content.0.input.city": "mock", "content.0.input.units": "celsius",
		}},
		{"tool result", `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"68F"}]}]}],` + anthropicTools + `}`,
			map[string]string{"content.0.text": "Tool returned: 68F", "stop_reason": "end_turn"}},
		{"tool_choice none", `{"model":"m","max_tokens":64,"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"weather"}],` + anthropicTools + `}`,
			map[string]string{"stop_reason": "end_turn"}},
	}
	s := NewAnthropic(WithAPIKey("ak"))
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.seq.Store(0)
			resp, body := post(t, s.URL+"/v1/messages", tc.body, anthropicHeaders...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Header.Get("Request-Id") != "req_mock_1" {
				t.Errorf("request-id = %q", resp.Header.Get("Request-Id"))
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(body, path).String(); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
		})
	}
}

func TestAnthropicCachedTokens(t *testing.T) {
	s := NewAnthropic(WithCachedTokens(100))
	defer s.Close()
	_, body := post(t, s.URL+"/v1/messages", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders...)
	if got := gjson.GetBytes(body, "usage.cache_read_input_tokens").Int(); got != 100 {
		t.Errorf("cache_read_input_tokens = %d: %s", got, body)
	}
	if got := gjson.GetBytes(body, "usage.input_tokens").Int(); got != 1 {
		t.Errorf("input_tokens = %d, want 1 (cache reads are not included)", got)
	}
}

func TestAnthropicErrors(t *testing.T) {
	tests := []struct {
		name, path, body string
		headers          []string
		status           int
		typ, msg         string
	}{
		{"missing version", "/v1/messages", `{}`, []string{"x-api-key", "ak"}, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad version", "/v1/messages", `{}`, []string{"x-api-key", "ak", "anthropic-version", "2024-01-01"}, 400, "invalid_request_error", "invalid version"},
		{"missing key", "/v1/messages", `{}`, []string{"anthropic-version", "2023-06-01"}, 401, "authentication_error", "invalid x-api-key"},
		{"bearer is not x-api-key", "/v1/messages", `{}`, []string{"Authorization", "Bearer ak", "anthropic-version", "2023-06-01"}, 401, "authentication_error", "invalid x-api-key"},
		{"missing max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, 400, "invalid_request_error", "max_tokens: Field required"},
		{"missing model", "/v1/messages", `{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, 400, "invalid_request_error", "model: Field required"},
		{"missing messages", "/v1/messages", `{"model":"m","max_tokens":1}`, anthropicHeaders, 400, "invalid_request_error", "messages: Field required"},
		{"system role", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, anthropicHeaders, 400, "invalid_request_error", "messages.0.role"},
		{"openai field leaked", "/v1/messages", `{"model":"m","max_tokens":1,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, anthropicHeaders, 400, "invalid_request_error", "stream_options: Extra inputs are not permitted"},
		{"not json", "/v1/messages", `{`, anthropicHeaders, 400, "invalid_request_error", "valid JSON"},
		{"unknown path", "/v1/complete", `{}`, anthropicHeaders, 404, "not_found_error", "Not Found"},
	}
	s := NewAnthropic(WithAPIKey("ak"))
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, s.URL+tc.path, tc.body, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			r := gjson.ParseBytes(body)
			if r.Get("type").String() != "error" || r.Get("error.type").String() != tc.typ || !strings.Contains(r.Get("error.message").String(), tc.msg) {
				t.Errorf("got %s, want type %q message containing %q", body, tc.typ, tc.msg)
			}
		})
	}
}

func TestAnthropicStream(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // event names
		text, json string
		stop       string
	}{
		{"text", `{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"},
			"You said: hi", "", "end_turn"},
		{"tool use", `{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"weather"}],` + anthropicTools + `}`,
			[]string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"},
			"", `{"city":"mock","units":"celsius"}`, "tool_use"},
	}
	s := NewAnthropic()
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, s.URL+"/v1/messages", tc.body, anthropicHeaders...)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			var names []string
			var text, js strings.Builder
			stop := ""
			for _, e := range parseSSE(t, body) {
				names = append(names, e.name)
				d := gjson.Parse(e.data)
				if d.Get("type").String() != e.name {
					t.Errorf("event %s has type %s", e.name, d.Get("type"))
				}
				text.WriteString(d.Get("delta.text").String())
				js.WriteString(d.Get("delta.partial_json").String())
				if e.name == "message_delta" {
					stop = d.Get("delta.stop_reason").String()
					if d.Get("usage.output_tokens").Int() == 0 {
						t.Errorf("message_delta lacks output_tokens: %s", e.data)
					}
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("events %v\nwant %v", names, tc.want)
			}
			if text.String() != tc.text || js.String() != tc.json || stop != tc.stop {
				t.Errorf("text %q json %q stop %q, want %q %q %q", text.String(), js.String(), stop, tc.text, tc.json, tc.stop)
			}
		})
	}
}

func TestAnthropicStreamError(t *testing.T) {
	s := NewAnthropic(WithStreamError(3))
	defer s.Close()
	_, body := post(t, s.URL+"/v1/messages", `{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicHeaders...)
	ev := parseSSE(t, body)
	if last := ev[len(ev)-1]; len(ev) != 4 || last.name != "error" || gjson.Get(last.data, "error.type").String() != "overloaded_error" {
		t.Errorf("events: %+v", ev)
	}
}

func TestAnthropicOpenAICompat(t *testing.T) {
	s := NewAnthropic(WithAPIKey("ak"))
	defer s.Close()
	for _, h := range [][]string{{"Authorization", "Bearer ak"}, {"x-api-key", "ak"}} {
		resp, body := post(t, s.URL+"/v1/chat/completions", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, h...)
		if resp.StatusCode != 200 || gjson.GetBytes(body, "choices.0.message.content").String() != "You said: hi" {
			t.Errorf("%s: %d %s", h[0], resp.StatusCode, body)
		}
	}
	resp, body := post(t, s.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer nope")
	if resp.StatusCode != 401 || !gjson.GetBytes(body, "error.message").Exists() {
		t.Errorf("wrong key: %d %s", resp.StatusCode, body)
	}
}

func TestAnthropicSDK(t *testing.T) {
	s := NewAnthropic(WithAPIKey("ak"))
	defer s.Close()
	ctx := context.Background()
	client := anthropic.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey("ak"), option.WithMaxRetries(0))
	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name:        "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
	}}

	t.Run("message", func(t *testing.T) {
		m, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 256,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Content) != 1 || m.Content[0].Text != "You said: hello there" || m.StopReason != "end_turn" || m.Usage.InputTokens != 2 || m.Usage.OutputTokens != 4 {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 256,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream me"))},
		})
		var m anthropic.Message
		for stream.Next() {
			if err := m.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(m.Content) != 1 || m.Content[0].Text != "You said: stream me" || m.Usage.OutputTokens != 4 || m.Usage.InputTokens != 2 {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("tool use stream", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: "claude-sonnet-4-5", MaxTokens: 256, Tools: []anthropic.ToolUnionParam{weather},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))},
		})
		var m anthropic.Message
		for stream.Next() {
			if err := m.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(m.Content) != 1 || m.StopReason != "tool_use" {
			t.Fatalf("got %+v", m)
		}
		if tu := m.Content[0].AsToolUse(); tu.Name != "get_weather" || string(tu.Input) != `{"city":"mock"}` {
			t.Errorf("tool use = %+v", tu)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		wrong := anthropic.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey("nope"), option.WithMaxRetries(0))
		_, err := wrong.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "m", MaxTokens: 1, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
			t.Errorf("err = %v", err)
		}
	})
}
