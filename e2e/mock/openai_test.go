package mock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
)

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_current_weather","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}},
{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"tz":{"type":"string"}}}}}]`

func TestOpenAIChat(t *testing.T) {
	tests := []struct {
		name, path, body string
		want             map[string]string // gjson path → value
	}{
		{"text", "/v1/chat/completions", chatHello, map[string]string{
			"object": "chat.completion", "model": "gpt-4o-mini", "created": fmt.Sprint(Created),
			"choices.0.message.role": "assistant", "choices.0.message.content": "You said: hello there",
			"choices.0.finish_reason": "stop", "usage.prompt_tokens": "4", "usage.completion_tokens": "4",
			"usage.total_tokens": "8", "usage.prompt_tokens_details.cached_tokens": "0",
		}},
		{"content parts", "/chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
			map[string]string{"choices.0.message.content": "You said: look", "usage.prompt_tokens": "1"}},
		{"tool result", "/api/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_current_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"sunny 20C"}],` + weatherTools + `}`,
			map[string]string{"choices.0.message.content": "Tool returned: sunny 20C", "choices.0.finish_reason": "stop"}},
		{"max tokens", "/v1beta/openai/chat/completions", `{"model":"m","max_completion_tokens":2,"messages":[{"role":"user","content":"a b c"}]}`,
			map[string]string{"choices.0.message.content": "You said:", "choices.0.finish_reason": "length", "usage.completion_tokens": "2"}},
		{"tool call", "/v1/projects/p/locations/r/endpoints/openapi/chat/completions", `{"model":"m","messages":[{"role":"user","content":"What is the weather in Boston?"}],` + weatherTools + `}`,
			map[string]string{
				"choices.0.finish_reason": "tool_calls", "choices.0.message.content": "",
				"choices.0.message.tool_calls.#": "1", "choices.0.message.tool_calls.0.type": "function",
				"choices.0.message.tool_calls.0.id":                 "call_mock_1_0",
				"choices.0.message.tool_calls.0.function.name":      "get_current_weather",
				"choices.0.message.tool_calls.0.function.arguments": `{"location":"mock"}`,
				"usage.completion_tokens":                           "2",
			}},
		{"parallel tool calls", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"weather and time, in parallel"}],` + weatherTools + `}`,
			map[string]string{"choices.0.message.tool_calls.#": "2", "choices.0.message.tool_calls.1.function.name": "get_time",
				"choices.0.message.tool_calls.1.function.arguments": `{"tz":"mock"}`}},
		{"forced tool", "/v1/chat/completions", `{"model":"m","tool_choice":{"type":"function","function":{"name":"get_time"}},"messages":[{"role":"user","content":"hi"}],` + weatherTools + `}`,
			map[string]string{"choices.0.message.tool_calls.0.function.name": "get_time"}},
		{"tool_choice none", "/v1/chat/completions", `{"model":"m","tool_choice":"none","messages":[{"role":"user","content":"weather"}],` + weatherTools + `}`,
			map[string]string{"choices.0.finish_reason": "stop"}},
		{"azure", "/openai/deployments/gpt-5-nano/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"model": "gpt-5-nano", "prompt_filter_results.0.prompt_index": "0", "choices.0.content_filter_results": "{}"}},
	}
	s := NewOpenAI()
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.seq.Store(0)
			resp, body := post(t, s.URL+tc.path, tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(body, path).String(); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
		})
	}
}

// Cached tokens are a subset of prompt_tokens in OpenAI's convention.
func TestOpenAICachedTokens(t *testing.T) {
	s := NewOpenAI(WithCachedTokens(100))
	defer s.Close()
	_, body := post(t, s.URL+"/v1/chat/completions", chatHello)
	u := gjson.GetBytes(body, "usage")
	if u.Get("prompt_tokens").Int() != 104 || u.Get("prompt_tokens_details.cached_tokens").Int() != 100 || u.Get("total_tokens").Int() != 108 {
		t.Errorf("usage = %s", u.Raw)
	}
}

func TestOpenAIErrors(t *testing.T) {
	tests := []struct {
		name, path, body string
		opts             []Option
		headers          []string
		status           int
		code, msg        string // error.code and a substring of the message
	}{
		{"missing key", "/v1/chat/completions", chatHello, []Option{WithAPIKey("sk-1")}, nil, 401, "", "didn't provide an API key"},
		{"wrong key", "/v1/chat/completions", chatHello, []Option{WithAPIKey("sk-1")}, []string{"Authorization", "Bearer sk-2"}, 401, "invalid_api_key", "Incorrect API key"},
		{"azure key", "/openai/deployments/d/chat/completions?api-version=1", chatHello, []Option{WithAuthHeader("api-key", "az")}, []string{"api-key", "nope"}, 401, "401", "Access denied"},
		{"azure api-version", "/openai/deployments/d/chat/completions", chatHello, nil, nil, 404, "404", "Resource not found"},
		{"gemini query key", "/v1beta/openai/chat/completions?key=bad", chatHello, []Option{WithQueryKey("key", "g")}, nil, 401, "", "didn't provide"},
		{"not json", "/v1/chat/completions", `{`, nil, nil, 400, "", "could not parse the JSON body"},
		{"no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, nil, 400, "", "must provide a model"},
		{"no messages", "/v1/chat/completions", `{"model":"m"}`, nil, nil, 400, "missing_required_parameter", "'messages'"},
		{"empty messages", "/v1/chat/completions", `{"model":"m","messages":[]}`, nil, nil, 400, "empty_array", "empty array"},
		{"bad role", "/v1/chat/completions", `{"model":"m","messages":[{"role":"human","content":"x"}]}`, nil, nil, 400, "invalid_value", "'human'"},
		{"stream_options without stream", "/v1/chat/completions", `{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, nil, nil, 400, "invalid_value", "stream_options"},
		{"unknown path", "/v1/completions", chatHello, nil, nil, 404, "", "Invalid URL (POST /v1/completions)"},
		{"empty embedding input", "/v1/embeddings", `{"model":"m","input":""}`, nil, nil, 400, "", "'$.input' is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewOpenAI(tc.opts...)
			defer s.Close()
			resp, body := post(t, s.URL+tc.path, tc.body, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := gjson.GetBytes(body, "error.code").String(); got != tc.code {
				t.Errorf("error.code = %q, want %q", got, tc.code)
			}
			if msg := gjson.GetBytes(body, "error.message").String(); !strings.Contains(msg, tc.msg) {
				t.Errorf("error.message = %q, want it to contain %q", msg, tc.msg)
			}
		})
	}
}

func TestOpenAIAuthAccepted(t *testing.T) {
	tests := []struct {
		name, path string
		opts       []Option
		headers    []string
	}{
		{"bearer", "/v1/chat/completions", []Option{WithAPIKey("sk-1")}, []string{"Authorization", "Bearer sk-1"}},
		{"azure api-key", "/openai/deployments/d/chat/completions?api-version=1", []Option{WithAuthHeader("api-key", "az")}, []string{"api-key", "az"}},
		{"query key", "/v1beta/models/m?key=g", []Option{WithQueryKey("key", "g")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewOpenAI(tc.opts...)
			defer s.Close()
			resp, body := post(t, s.URL+tc.path, chatHello, tc.headers...)
			// The query-key case targets an unknown path: getting past auth
			// to the 404 proves the key was accepted.
			if resp.StatusCode == 401 {
				t.Errorf("rejected: %s", body)
			}
		})
	}
}

func TestOpenAIStream(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		includeUsage bool
		wantContent  string
		wantFinish   string
	}{
		{"text", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi you"}]}`, false, "You said: hi you", "stop"},
		{"text with usage", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi you"}]}`, true, "You said: hi you", "stop"},
		{"tool call", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather"}],` + weatherTools + `}`, true, "", "tool_calls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewOpenAI()
			defer s.Close()
			resp, body := post(t, s.URL+"/v1/chat/completions", tc.body)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			ev := parseSSE(t, body)
			if last := ev[len(ev)-1]; last.data != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", last.data)
			}
			chunks := ev[:len(ev)-1]
			if r := gjson.Get(chunks[0].data, "choices.0.delta.role").String(); r != "assistant" {
				t.Errorf("first chunk role = %q", r)
			}
			var content, args strings.Builder
			finish := ""
			for i, c := range chunks {
				j := gjson.Parse(c.data)
				if j.Get("object").String() != "chat.completion.chunk" || j.Get("id").String() != "chatcmpl-mock-1" {
					t.Errorf("chunk %d: bad object/id: %s", i, c.data)
				}
				if u := j.Get("usage"); u.Exists() != tc.includeUsage {
					t.Errorf("chunk %d: usage present = %v, want %v", i, u.Exists(), tc.includeUsage)
				}
				content.WriteString(j.Get("choices.0.delta.content").String())
				args.WriteString(j.Get("choices.0.delta.tool_calls.0.function.arguments").String())
				if f := j.Get("choices.0.finish_reason").String(); f != "" {
					finish = f
				}
			}
			if content.String() != tc.wantContent || finish != tc.wantFinish {
				t.Errorf("content %q finish %q, want %q %q", content.String(), finish, tc.wantContent, tc.wantFinish)
			}
			if tc.wantFinish == "tool_calls" && args.String() != `{"location":"mock"}` {
				t.Errorf("streamed arguments = %q", args.String())
			}
			if !tc.includeUsage {
				return
			}
			u := gjson.Parse(chunks[len(chunks)-1].data)
			if u.Get("choices.#").Int() != 0 || !u.Get("usage.total_tokens").Exists() {
				t.Errorf("last chunk is not a usage chunk: %s", u.Raw)
			}
			for _, c := range chunks[:len(chunks)-1] {
				if gjson.Get(c.data, "usage").Type != gjson.Null {
					t.Errorf("usage must be null before the usage chunk: %s", c.data)
				}
			}
		})
	}
}

func TestOpenAIAzureStreamStartsWithFilterChunk(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	_, body := post(t, s.URL+"/openai/deployments/d/chat/completions?api-version=1", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	ev := parseSSE(t, body)
	first := gjson.Parse(ev[0].data)
	if first.Get("choices.#").Int() != 0 || !first.Get("prompt_filter_results").Exists() {
		t.Errorf("first Azure chunk = %s", ev[0].data)
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	tests := []struct {
		name, body string
		texts      []string
		dims       int
		tokens     int64
		b64        bool
	}{
		{"string", `{"model":"e","input":"hello big world"}`, []string{"hello big world"}, 8, 3, false},
		{"batch with dimensions", `{"model":"e","input":["a b","c"],"dimensions":4}`, []string{"a b", "c"}, 4, 3, false},
		{"token ids", `{"model":"e","input":[1,2,3]}`, []string{"1 2 3"}, 8, 3, false},
		{"token arrays", `{"model":"e","input":[[1,2],[3]]}`, []string{"1 2", "3"}, 8, 3, false},
		{"base64", `{"model":"e","input":"hi","encoding_format":"base64","dimensions":3}`, []string{"hi"}, 3, 1, true},
	}
	s := NewOpenAI()
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, s.URL+"/v1/embeddings", tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			r := gjson.ParseBytes(body)
			if r.Get("object").String() != "list" || r.Get("model").String() != "e" || r.Get("usage.prompt_tokens").Int() != tc.tokens || r.Get("usage.total_tokens").Int() != tc.tokens {
				t.Errorf("envelope: %s", body)
			}
			data := r.Get("data").Array()
			if len(data) != len(tc.texts) {
				t.Fatalf("%d embeddings, want %d", len(data), len(tc.texts))
			}
			for i, d := range data {
				var got []float32
				if tc.b64 {
					raw, err := base64.StdEncoding.DecodeString(d.Get("embedding").String())
					if err != nil {
						t.Fatal(err)
					}
					for j := 0; j+4 <= len(raw); j += 4 {
						got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else {
					for _, v := range d.Get("embedding").Array() {
						got = append(got, float32(v.Float()))
					}
				}
				if want := Embedding(tc.texts[i], tc.dims); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("embedding %d = %v, want %v", i, got, want)
				}
				if d.Get("index").Int() != int64(i) || d.Get("object").String() != "embedding" {
					t.Errorf("item %d: %s", i, d.Raw)
				}
			}
		})
	}
}

func TestOpenAIResponses(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	_, body := post(t, s.URL+"/v1/responses", `{"model":"gpt-5.4","instructions":"Be kind.","input":"tell me a story"}`)
	r := gjson.ParseBytes(body)
	for path, want := range map[string]string{
		"object": "response", "status": "completed", "model": "gpt-5.4", "instructions": "Be kind.",
		"output.0.type": "message", "output.0.content.0.type": "output_text",
		"output.0.content.0.text": "You said: tell me a story", "usage.input_tokens": "6", "usage.output_tokens": "6",
		"usage.total_tokens": "12",
	} {
		if got := r.Get(path).String(); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}

	_, body = post(t, s.URL+"/v1/responses", `{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"weather?"}]}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}`)
	r = gjson.ParseBytes(body)
	if r.Get("output.0.type").String() != "function_call" || r.Get("output.0.name").String() != "get_weather" || r.Get("output.0.arguments").String() != `{"city":"mock"}` {
		t.Errorf("function call output: %s", r.Get("output").Raw)
	}

	_, body = post(t, s.URL+"/v1/responses", `{"model":"m","max_output_tokens":1,"input":"a b"}`)
	if r := gjson.ParseBytes(body); r.Get("status").String() != "incomplete" || r.Get("incomplete_details.reason").String() != "max_output_tokens" {
		t.Errorf("truncated response: %s", body)
	}
}

// The stream follows responses-stream-text.sse: the same event sequence,
// type = event name, increasing sequence numbers, deltas adding up.
func TestOpenAIResponsesStream(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	_, body := post(t, s.URL+"/v1/responses", `{"model":"m","stream":true,"input":"hi"}`)
	ev := parseSSE(t, body)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"}
	var names []string
	var text strings.Builder
	for i, e := range ev {
		names = append(names, e.name)
		j := gjson.Parse(e.data)
		if j.Get("type").String() != e.name || j.Get("sequence_number").Int() != int64(i) {
			t.Errorf("event %d: type/sequence_number wrong: %s", i, e.data)
		}
		text.WriteString(j.Get("delta").String())
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("events %v\nwant %v", names, want)
	}
	if text.String() != "You said: hi" {
		t.Errorf("deltas add up to %q", text.String())
	}
	if u := gjson.Get(ev[len(ev)-1].data, "response.usage.total_tokens").Int(); u != 4 {
		t.Errorf("completed usage total = %d, want 4", u)
	}
}

func TestOpenAIResponsesStreamFunctionCall(t *testing.T) {
	s := NewOpenAI()
	defer s.Close()
	_, body := post(t, s.URL+"/v1/responses", `{"model":"m","stream":true,"input":"weather","tools":[{"type":"function","name":"w","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}`)
	var args strings.Builder
	var done string
	for _, e := range parseSSE(t, body) {
		switch e.name {
		case "response.function_call_arguments.delta":
			args.WriteString(gjson.Get(e.data, "delta").String())
		case "response.function_call_arguments.done":
			done = gjson.Get(e.data, "arguments").String()
		}
	}
	if args.String() != `{"city":"mock"}` || done != args.String() {
		t.Errorf("deltas %q, done %q", args.String(), done)
	}
}

func newOpenAIClient(s *Server, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func TestOpenAISDK(t *testing.T) {
	s := NewOpenAI(WithAPIKey("sk-test"))
	defer s.Close()
	ctx := context.Background()
	client := newOpenAIClient(s, "sk-test")

	t.Run("chat", func(t *testing.T) {
		c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hello there")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if c.Choices[0].Message.Content != "You said: hello there" || c.Usage.PromptTokens != 4 || c.Usage.CompletionTokens != 4 || c.Model != "gpt-4o-mini" {
			t.Errorf("got %+v", c)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream this please")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "You said: stream this please" {
			t.Errorf("content = %q", got)
		}
		if acc.Usage.TotalTokens != 8 {
			t.Errorf("usage = %+v", acc.Usage)
		}
	})

	t.Run("tool call stream", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name:       "get_weather",
				Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
			})},
		})
		var acc openai.ChatCompletionAccumulator
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(finished) != 1 || finished[0].Name != "get_weather" || finished[0].Arguments != `{"city":"mock"}` {
			t.Errorf("finished tool calls = %+v", finished)
		}
		if acc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("finish reason = %q", acc.Choices[0].FinishReason)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			e, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          "text-embedding-3-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b c"}},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := Embedding("b c", defaultDims)
			if len(e.Data) != 2 || len(e.Data[1].Embedding) != defaultDims || float32(e.Data[1].Embedding[3]) != want[3] || e.Usage.PromptTokens != 3 {
				t.Errorf("%s: got %+v", format, e)
			}
		}
	})

	t.Run("responses", func(t *testing.T) {
		r, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: "gpt-5.4",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("write a haiku")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputText() != "You said: write a haiku" || r.Usage.OutputTokens != 5 {
			t.Errorf("got %q usage %+v", r.OutputText(), r.Usage)
		}
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "gpt-5.4",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("write a haiku")},
		})
		var text strings.Builder
		var completed responses.Response
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed = ev.AsResponseCompleted().Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "You said: write a haiku" || completed.OutputText() != text.String() {
			t.Errorf("streamed %q, completed %q", text.String(), completed.OutputText())
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		wrong := newOpenAIClient(s, "sk-wrong")
		_, err := wrong.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
			t.Errorf("err = %v", err)
		}
	})
}
